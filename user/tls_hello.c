// SPDX-License-Identifier: Apache-2.0
/* The protocol version a TLS ServerHello chose (RFC 8446 4.1.3, RFC 5246
 * 7.4.1.3). The bytes come from the socket and are hostile: every length
 * is checked against both the message and the captured buffer. */
#include "tls.h"

#define REC_HANDSHAKE		22
#define HS_SERVER_HELLO		2
#define EXT_SUPPORTED_VERSIONS	43

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int tls_hello_version(const uint8_t *p, size_t len, bool has_record)
{
	size_t off = 0, msg_end, ext_end, need;
	unsigned legacy;

	if (has_record) {
		if (len < 5)
			return -2;
		if (p[0] != REC_HANDSHAKE || p[1] != 3)
			return -1;
		off = 5;
	}
	if (len < off + 4)
		return -2;
	if (p[off] != HS_SERVER_HELLO)
		return -1;
	msg_end = off + 4 + ((size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3]);
	off += 4;
	/* legacy_version, random, session id length */
	need = off + 2 + 32 + 1;
	if (need > msg_end)
		return -1;
	if (len < need)
		return -2;
	legacy = be16(p + off);
	if (p[off] != 3)
		return -1;
	off = need;
	off += p[off - 1];		/* session id */
	need = off + 2 + 1;		/* cipher suite, compression */
	if (need > msg_end)
		return -1;
	if (len < need)
		return -2;
	off = need;
	/* No extensions: only TLS 1.2 and older can say so. */
	if (off == msg_end)
		return legacy;
	if (off + 2 > msg_end)
		return -1;
	if (len < off + 2)
		return -2;
	ext_end = off + 2 + be16(p + off);
	if (ext_end > msg_end)
		return -1;
	off += 2;
	while (off < ext_end) {
		unsigned type, elen;

		if (off + 4 > ext_end)
			return -1;
		if (len < off + 4)
			return -2;
		type = be16(p + off);
		elen = be16(p + off + 2);
		off += 4;
		if (off + elen > ext_end)
			return -1;
		if (type == EXT_SUPPORTED_VERSIONS) {
			if (elen != 2)
				return -1;
			if (len < off + 2)
				return -2;
			return be16(p + off);
		}
		off += elen;
	}
	return legacy;
}

const char *tls_version_name(int version)
{
	switch (version) {
	case 0x0304:
		return "1.3";
	case 0x0303:
		return "1.2";
	case 0x0302:
		return "1.1";
	case 0x0301:
		return "1.0";
	case 0x0300:
		return "3.0";
	}
	return NULL;
}
