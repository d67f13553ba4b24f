// SPDX-License-Identifier: Apache-2.0
/* TLS helpers: the ServerHello version parser (cut at every point, against
 * a guard page), /proc/PID/maps lines, and ELF symbol offsets checked
 * against the code the dynamic loader mapped. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

/* Input placed so that its last byte is the last of a page followed by an
 * unmapped one: reading one byte too far crashes. */
static uint8_t *guarded(const uint8_t *p, size_t len)
{
	static uint8_t *map;
	long pg = sysconf(_SC_PAGESIZE);

	if (!map) {
		map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(map != MAP_FAILED);
		assert_int_equal(mprotect(map + pg, pg, PROT_NONE), 0);
	}
	assert_true(len <= (size_t)pg);
	memcpy(map + pg - len, p, len);
	return map + pg - len;
}

struct hello {
	uint8_t b[512];
	size_t len;
	size_t version_end;	/* bytes needed to know the answer */
};

static void put(struct hello *h, const void *p, size_t n)
{
	memcpy(h->b + h->len, p, n);
	h->len += n;
}

static void put16(struct hello *h, unsigned v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(h, b, 2);
}

/* A ServerHello with a 32-byte session id and the given extensions (raw),
 * with or without its record header. */
static void build(struct hello *h, bool record, unsigned legacy, const uint8_t *ext,
		  size_t ext_len, bool no_ext_block)
{
	uint8_t random[32], sid[32];
	size_t body = 2 + 32 + 1 + 32 + 2 + 1 + (no_ext_block ? 0 : 2 + ext_len);
	uint8_t hs[4] = { 2, body >> 16, body >> 8, body & 0xff };

	memset(h, 0, sizeof(*h));
	memset(random, 0xab, sizeof(random));
	memset(sid, 0x5c, sizeof(sid));
	if (record) {
		uint8_t rec[5] = { 22, 3, 3, (4 + body) >> 8, (4 + body) & 0xff };

		put(h, rec, 5);
	}
	put(h, hs, 4);
	put16(h, legacy);
	put(h, random, 32);
	put(h, "\x20", 1);
	put(h, sid, 32);
	put16(h, 0x1301);
	put(h, "\x00", 1);
	if (!no_ext_block) {
		put16(h, ext_len);
		put(h, ext, ext_len);
	}
}

/* key_share (x25519) then supported_versions (TLS 1.3) */
static const uint8_t ext13[] = {
	0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
	0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
};

/* renegotiation_info, ec_point_formats: a TLS 1.2 answer */
static const uint8_t ext12[] = {
	0xff, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
};

/* Every cut: partial (-2) until the answer is in, then the answer. */
static void check_cuts(const struct hello *h, bool record, int want)
{
	bool known = false;

	for (size_t cut = 0; cut <= h->len; cut++) {
		int v = tls_hello_version(guarded(h->b, cut), cut, record);

		if (v == -2) {
			assert_false(known);
			continue;
		}
		assert_int_equal(v, want);
		known = true;
	}
	assert_true(known);
	assert_int_equal(tls_hello_version(guarded(h->b, h->len), h->len, record), want);
}

static void test_hello_13(void **state)
{
	struct hello h;

	(void)state;
	for (int record = 0; record < 2; record++) {
		build(&h, record, 0x0303, ext13, sizeof(ext13), false);
		check_cuts(&h, record, 0x0304);
		/* Only the last two bytes decide it. */
		assert_int_equal(tls_hello_version(guarded(h.b, h.len - 1), h.len - 1, record), -2);
	}
	assert_string_equal(tls_version_name(0x0304), "1.3");
}

static void test_hello_12(void **state)
{
	struct hello h;

	(void)state;
	for (int record = 0; record < 2; record++) {
		build(&h, record, 0x0303, ext12, sizeof(ext12), false);
		check_cuts(&h, record, 0x0303);
		/* No extension block at all: the legacy field. */
		build(&h, record, 0x0302, NULL, 0, true);
		check_cuts(&h, record, 0x0302);
	}
	assert_string_equal(tls_version_name(0x0303), "1.2");
	assert_string_equal(tls_version_name(0x0301), "1.0");
	assert_null(tls_version_name(0x7f1c));
	assert_null(tls_version_name(-1));
}

static void test_hello_malformed(void **state)
{
	struct hello h;
	uint8_t *p;

	(void)state;
	/* Not a handshake record, not a ServerHello. */
	build(&h, true, 0x0303, ext13, sizeof(ext13), false);
	h.b[0] = 23;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, true), -1);
	build(&h, false, 0x0303, ext13, sizeof(ext13), false);
	h.b[0] = 1;		/* ClientHello */
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* Not SSL 3 or TLS. */
	build(&h, false, 0x0303, ext13, sizeof(ext13), false);
	h.b[4] = 0x7f;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* Extensions longer than the message. */
	build(&h, false, 0x0303, ext13, sizeof(ext13), false);
	p = h.b + 4 + 2 + 32 + 1 + 32 + 3;
	p[0] = 0x01;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* One extension running past the block. */
	build(&h, false, 0x0303, ext13, sizeof(ext13), false);
	p = h.b + 4 + 2 + 32 + 1 + 32 + 3 + 2;
	p[3] = 0x40;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* supported_versions of the wrong size */
	build(&h, false, 0x0303, ext13, sizeof(ext13), false);
	h.b[h.len - 3] = 3;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* Session id longer than the message. */
	build(&h, false, 0x0303, NULL, 0, true);
	h.b[4 + 2 + 32] = 0xff;
	assert_int_equal(tls_hello_version(guarded(h.b, h.len), h.len, false), -1);
	/* Nothing at all. */
	assert_int_equal(tls_hello_version(guarded(h.b, 0), 0, false), -2);
	assert_int_equal(tls_hello_version(guarded(h.b, 0), 0, true), -2);
}

static void test_maps(void **state)
{
	struct tls_map_ent e;
	const char *l;

	(void)state;
	l = "7f1c2a400000-7f1c2a4a0000 r-xp 00027000 fe:01 1837201                    "
	    "/usr/lib/x86_64-linux-gnu/libssl.so.3\n";
	assert_int_equal(tls_maps_parse(l, &e), 0);
	assert_int_equal(e.start, 0x7f1c2a400000ull);
	assert_int_equal(e.end, 0x7f1c2a4a0000ull);
	assert_true(e.exec);
	assert_int_equal(e.dev_major, 0xfe);
	assert_int_equal(e.dev_minor, 1);
	assert_int_equal(e.ino, 1837201);
	assert_int_equal(e.path_len, strlen("/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_memory_equal(e.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3", e.path_len);

	/* Spaces in a path, no newline. */
	l = "00400000-00452000 r-xp 00000000 08:02 173521 /opt/my app/bin/node";
	assert_int_equal(tls_maps_parse(l, &e), 0);
	assert_int_equal(e.path_len, strlen("/opt/my app/bin/node"));

	l = "7ffd1c1e1000-7ffd1c202000 rw-p 00000000 00:00 0                          [stack]\n";
	assert_int_equal(tls_maps_parse(l, &e), 0);
	assert_false(e.exec);
	assert_null(e.path);
	assert_int_equal(e.ino, 0);

	l = "7f00000000-7f00001000 r-xp 00000000 00:00 0 \n";
	assert_int_equal(tls_maps_parse(l, &e), 0);
	assert_null(e.path);

	l = "7f1c2a400000-7f1c2a4a0000 r-xp 00027000 fe:01 99 /tmp/libssl.so.3 (deleted)\n";
	assert_int_equal(tls_maps_parse(l, &e), 0);
	assert_null(e.path);

	assert_int_equal(tls_maps_parse("", &e), -1);
	assert_int_equal(tls_maps_parse("zz-10 r-xp 0 0:0 0 /x", &e), -1);
	assert_int_equal(tls_maps_parse("10-20 r-x", &e), -1);
	assert_int_equal(tls_maps_parse("10-20 r-xp 0 0:0", &e), -1);
	assert_int_equal(tls_maps_parse("10-20 r-xp 0 0:0 x /y", &e), -1);
	assert_int_equal(tls_maps_parse("11111111111111111-20 r-xp 0 0:0 1 /y", &e), -1);
}

/* The offset found in the file holds the bytes the loader mapped at the
 * symbol's address. The first byte is left out: a uprobe that some tracer
 * holds on the symbol shows there as int3 in every new mapping. */
static void check_offset(const char *path, void *lib, const char *sym, uint64_t off)
{
	uint8_t file[16];
	void *mem = dlsym(lib, sym);
	int fd;

	assert_non_null(mem);
	assert_true(off != 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, sizeof(file), off), sizeof(file));
	close(fd);
	assert_memory_equal(file + 1, (uint8_t *)mem + 1, sizeof(file) - 1);
}

static const char *find_lib(const char *name, char *buf, size_t len)
{
	static const char *const dirs[] = {
		"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

/* OpenSSL 3's SSL_read as Debian's gcc builds it (x86-64), byte for byte. */
static const uint8_t ssl_read_code[] = {
	0x48, 0x83, 0xec, 0x18, 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00,
	0x48, 0x89, 0x44, 0x24, 0x08, 0x31, 0xc0, 0x85, 0xd2, 0x78, 0x2f, 0x48, 0x89,
	0xe1, 0x48, 0x63, 0xd2, 0xe8, 0x3d, 0xfe, 0xff, 0xff, 0x85, 0xc0, 0x7e, 0x03,
	0x8b, 0x04, 0x24,
};

/* The wrapper pattern: found in the known code whatever its frame size and
 * branch targets, refused when any fixed byte differs or the code is short
 * (the entry and return probes are used then). */
static void test_wrapper_sites(void **state)
{
	uint8_t code[sizeof(ssl_read_code)], call = 0, ret = 0;

	(void)state;
	assert_true(tls_wrapper_sites(ssl_read_code, sizeof(ssl_read_code), &call, &ret));
	assert_int_equal(call, 0x1e);
	assert_int_equal(ret, 0x25);
	assert_int_equal(ssl_read_code[call], 0xe8);	/* call rel32 */
	assert_int_equal(ssl_read_code[ret], 0x7e);	/* jle rel8 */
	memcpy(code, ssl_read_code, sizeof(code));
	code[3] = 0x28;					/* another frame size */
	code[0x17] = 0x10;				/* other branch targets */
	code[0x1f] = 0x11;
	code[0x26] = 0x22;
	assert_true(tls_wrapper_sites(code, sizeof(code), &call, &ret));
	for (size_t i = 0; i < TLS_WRAPPER_LEN; i++) {
		if (i == 3 || i == 0x17 || (i >= 0x1f && i <= 0x22) || i == 0x26)
			continue;
		memcpy(code, ssl_read_code, sizeof(code));
		code[i] ^= 0x01;
		call = ret = 0;
		assert_false(tls_wrapper_sites(code, sizeof(code), &call, &ret));
		assert_int_equal(call, 0);
		assert_int_equal(ret, 0);
	}
	for (size_t len = 0; len < TLS_WRAPPER_LEN; len++)
		assert_false(tls_wrapper_sites(guarded(ssl_read_code, len), len, &call, &ret));
}

static void test_elf_openssl(void **state)
{
	char path[256];
	struct tls_syms s;
	void *lib;

	(void)state;
	if (!find_lib("libssl.so.3", path, sizeof(path)))
		skip();
	assert_true(tls_elf_resolve(path, &s) >= 6);
	assert_int_equal(s.kinds, TLS_LIB_OPENSSL);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(lib);
	check_offset(path, lib, "SSL_write", s.off[TLS_SYM_SSL_WRITE]);
	check_offset(path, lib, "SSL_read", s.off[TLS_SYM_SSL_READ]);
	check_offset(path, lib, "SSL_write_ex", s.off[TLS_SYM_SSL_WRITE_EX]);
	check_offset(path, lib, "SSL_read_ex", s.off[TLS_SYM_SSL_READ_EX]);
	check_offset(path, lib, "SSL_do_handshake", s.off[TLS_SYM_SSL_DO_HANDSHAKE]);
	check_offset(path, lib, "SSL_free", s.off[TLS_SYM_SSL_FREE]);
	assert_int_equal(s.off[TLS_SYM_GNUTLS_SEND], 0);
	/* Only the two wrappers get call sites, and only on x86-64. */
	for (int k = 0; k < TLS_SYM_MAX; k++)
		if (k != TLS_SYM_SSL_WRITE && k != TLS_SYM_SSL_READ)
			assert_int_equal(s.call_off[k], 0);
#if defined(__x86_64__)
	/* The library the tests run against is the thin-wrapper build. */
	assert_int_equal(s.call_off[TLS_SYM_SSL_READ], 0x1e);
	assert_int_equal(s.ret_off[TLS_SYM_SSL_WRITE], 0x25);
#endif
	dlclose(lib);
}

static void test_elf_gnutls(void **state)
{
	char path[256];
	struct tls_syms s;
	void *lib;

	(void)state;
	if (!find_lib("libgnutls.so.30", path, sizeof(path)))
		skip();
	assert_true(tls_elf_resolve(path, &s) >= 4);
	assert_int_equal(s.kinds, TLS_LIB_GNUTLS);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(lib);
	check_offset(path, lib, "gnutls_record_send", s.off[TLS_SYM_GNUTLS_SEND]);
	check_offset(path, lib, "gnutls_record_recv", s.off[TLS_SYM_GNUTLS_RECV]);
	check_offset(path, lib, "gnutls_record_send_range", s.off[TLS_SYM_GNUTLS_SEND_RANGE]);
	assert_int_equal(s.off[TLS_SYM_SSL_WRITE], 0);
	dlclose(lib);
}

static void test_elf_other(void **state)
{
	char tmpl[] = "/tmp/kspan-tls-XXXXXX";
	struct tls_syms s;
	int fd;

	(void)state;
	/* An ELF without the functions: this test (libssl symbols are not
	 * linked in). */
	assert_int_equal(tls_elf_resolve("/proc/self/exe", &s), 0);
	assert_int_equal(s.kinds, 0);
	assert_int_equal(tls_elf_resolve("/nonexistent/libssl.so.3", &s), -ENOENT);
	/* Not an ELF; an ELF header cut short. */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	assert_int_equal(tls_elf_resolve(tmpl, &s), -ENOEXEC);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "\x7f" "ELF\x02\x01\x01", 7, 0), 7);
	assert_true(tls_elf_resolve(tmpl, &s) <= 0);
	assert_int_equal(s.kinds, 0);
	close(fd);
	unlink(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_13),
		cmocka_unit_test(test_hello_12),
		cmocka_unit_test(test_hello_malformed),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_wrapper_sites),
		cmocka_unit_test(test_elf_openssl),
		cmocka_unit_test(test_elf_gnutls),
		cmocka_unit_test(test_elf_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
