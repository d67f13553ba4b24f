// SPDX-License-Identifier: Apache-2.0
/* Where the TLS functions are: ELF symbols to file offsets, and the lines
 * of /proc/PID/maps that name mapped files. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

const char *const tls_sym_names[TLS_SYM_MAX] = {
	[TLS_SYM_SSL_WRITE] = "SSL_write",
	[TLS_SYM_SSL_READ] = "SSL_read",
	[TLS_SYM_SSL_WRITE_EX] = "SSL_write_ex",
	[TLS_SYM_SSL_READ_EX] = "SSL_read_ex",
	[TLS_SYM_SSL_DO_HANDSHAKE] = "SSL_do_handshake",
	[TLS_SYM_SSL_FREE] = "SSL_free",
	[TLS_SYM_GNUTLS_SEND] = "gnutls_record_send",
	[TLS_SYM_GNUTLS_RECV] = "gnutls_record_recv",
	[TLS_SYM_GNUTLS_SEND_RANGE] = "gnutls_record_send_range",
	[TLS_SYM_GNUTLS_HANDSHAKE] = "gnutls_handshake",
	[TLS_SYM_GNUTLS_DEINIT] = "gnutls_deinit",
};

/* name equals want, or is want@VERSION / want@@VERSION */
static bool sym_is(const char *name, const char *want)
{
	size_t n = strlen(want);

	return strncmp(name, want, n) == 0 && (name[n] == '\0' || name[n] == '@');
}

uint64_t tls_elf_vaddr_off(Elf *elf, uint64_t v)
{
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (v >= ph.p_vaddr && v - ph.p_vaddr < ph.p_filesz)
			return v - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static int scan_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct tls_syms *s)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t nsyms;
	int found = 0;

	if (!data || !sh->sh_entsize)
		return 0;
	nsyms = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < nsyms; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, i, &sym))
			break;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
		    !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || (name[0] != 'S' && name[0] != 'g'))
			continue;
		for (int k = 0; k < TLS_SYM_MAX; k++) {
			uint64_t off;

			if (s->off[k] || !sym_is(name, tls_sym_names[k]))
				continue;
			off = tls_elf_vaddr_off(elf, sym.st_value);
			if (off) {
				s->off[k] = off;
				found++;
			}
			break;
		}
	}
	return found;
}

bool tls_wrapper_sites(const uint8_t *code, size_t len, uint8_t *call, uint8_t *ret)
{
	/* -1: any byte (the frame size, branch targets, the call's target). */
	static const int16_t pat[TLS_WRAPPER_LEN] = {
		0x48, 0x83, 0xec, -1,				/* sub $N,%rsp */
		0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0,	/* mov %fs:0x28,%rax */
		0x48, 0x89, 0x44, 0x24, 0x08,			/* mov %rax,0x8(%rsp) */
		0x31, 0xc0,					/* xor %eax,%eax */
		0x85, 0xd2,					/* test %edx,%edx */
		0x78, -1,					/* js */
		0x48, 0x89, 0xe1,				/* mov %rsp,%rcx */
		0x48, 0x63, 0xd2,				/* movslq %edx,%rdx */
		0xe8, -1, -1, -1, -1,				/* call (+0x1e) */
		0x85, 0xc0,					/* test %eax,%eax */
		0x7e, -1,					/* jle (+0x25) */
	};

	if (len < TLS_WRAPPER_LEN)
		return false;
	for (size_t i = 0; i < TLS_WRAPPER_LEN; i++)
		if (pat[i] >= 0 && code[i] != pat[i])
			return false;
	*call = 0x1e;
	*ret = 0x25;
	return true;
}

/* The wrapper sites of SSL_write and SSL_read, read from the file. */
static void find_wrapper_sites(int fd, struct tls_syms *s)
{
#if defined(__x86_64__)
	static const enum tls_sym wrappers[] = { TLS_SYM_SSL_WRITE, TLS_SYM_SSL_READ };

	for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++) {
		enum tls_sym k = wrappers[i];
		uint8_t code[TLS_WRAPPER_LEN];

		if (s->off[k] && pread(fd, code, sizeof(code), (off_t)s->off[k]) == sizeof(code))
			tls_wrapper_sites(code, sizeof(code), &s->call_off[k], &s->ret_off[k]);
	}
#else
	(void)fd;
	(void)s;
#endif
}

int tls_elf_resolve(const char *path, struct tls_syms *s)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int fd, found = 0, err = 0;
	Elf *elf;

	memset(s, 0, sizeof(*s));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto out;
	}
	/* .dynsym first: what the file exports, present even when stripped. */
	for (int pass = 0; pass < 2; pass++) {
		Elf64_Word want = pass ? SHT_SYMTAB : SHT_DYNSYM;

		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			if (gelf_getshdr(scn, &sh) && sh.sh_type == want)
				found += scan_symtab(elf, scn, &sh, s);
		}
	}
	if (s->off[TLS_SYM_SSL_WRITE] && s->off[TLS_SYM_SSL_READ]) {
		s->kinds |= TLS_LIB_OPENSSL;
		find_wrapper_sites(fd, s);
	}
	if (s->off[TLS_SYM_GNUTLS_SEND] && s->off[TLS_SYM_GNUTLS_RECV])
		s->kinds |= TLS_LIB_GNUTLS;
out:
	if (elf)
		elf_end(elf);
	close(fd);
	return err ? err : found;
}

static const char *hex(const char *p, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	for (;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (p - start >= 16)
			return NULL;
		*v = *v << 4 | d;
	}
	return p == start ? NULL : p;
}

static const char *dec(const char *p, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	while (*p >= '0' && *p <= '9') {
		if (p - start >= 20)
			return NULL;
		*v = *v * 10 + (*p++ - '0');
	}
	return p == start ? NULL : p;
}

/* "start-end perms offset major:minor inode   path" */
int tls_maps_parse(const char *line, struct tls_map_ent *e)
{
	const char *p = line, *end;
	uint64_t v;
	size_t n;

	memset(e, 0, sizeof(*e));
	if (!(p = hex(p, &e->start)) || *p++ != '-' || !(p = hex(p, &e->end)) || *p++ != ' ')
		return -1;
	if (strnlen(p, 5) < 5 || p[4] != ' ')
		return -1;
	e->exec = p[2] == 'x';
	p += 5;
	if (!(p = hex(p, &v)) || *p++ != ' ')
		return -1;
	if (!(p = hex(p, &v)) || *p++ != ':')
		return -1;
	e->dev_major = v;
	if (!(p = hex(p, &v)) || *p++ != ' ')
		return -1;
	e->dev_minor = v;
	if (!(p = dec(p, &e->ino)))
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '/')
		return 0;
	n = strcspn(p, "\n");
	end = p + n;
	/* The file was replaced or removed since it was mapped. */
	if (n >= 10 && memcmp(end - 10, " (deleted)", 10) == 0)
		return 0;
	e->path = p;
	e->path_len = n;
	return 0;
}
