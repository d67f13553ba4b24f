// SPDX-License-Identifier: Apache-2.0
/* Go crypto/tls in a Go ELF file: where (*Conn).Read, Write and the two
 * handshake functions start and return, which Go built the file, and where
 * the fields between a *tls.Conn and its socket's fd are.
 *
 * Go binaries never get uretprobes: the return address a uretprobe plants
 * on the stack breaks Go's stack copying and its traceback. The functions
 * are probed at entry and at each of their RET instructions instead, found
 * by disassembling them with capstone. Functions are found through
 * .symtab; the field offsets come from the file's DWARF (libdw), or from
 * the layout known for its Go version when it has none (-ldflags=-w).
 *
 * capstone is loaded (dlopen) only while a Go binary is inspected: built
 * with every architecture, it costs ~3 MiB of resident memory once loaded
 * (its tables are relocated at load), and most hosts run no Go TLS. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capstone/capstone.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

#include "tls.h"

static const char *const fn_names[KSPAN_TLS_GO_FN_MAX] = {
	[KSPAN_TLS_GO_READ] = "crypto/tls.(*Conn).Read",
	[KSPAN_TLS_GO_WRITE] = "crypto/tls.(*Conn).Write",
	[KSPAN_TLS_GO_CLIENT_HS] = "crypto/tls.(*Conn).clientHandshake",
	[KSPAN_TLS_GO_SERVER_HS] = "crypto/tls.(*Conn).serverHandshake",
};

/* The itab of *net.TCPConn as a net.Conn: "go.itab." up to Go 1.19,
 * "go:itab." from Go 1.20. */
static const char *const itab_names[] = {
	"go.itab.*net.TCPConn,net.Conn",
	"go:itab.*net.TCPConn,net.Conn",
};

const char *tls_go_fn_name(int fn)
{
	return fn >= 0 && fn < KSPAN_TLS_GO_FN_MAX ? fn_names[fn] : "?";
}

static uint64_t uvarint(const uint8_t **p, const uint8_t *end, bool *ok)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ok = true;
			return v;
		}
	}
	*ok = false;
	return 0;
}

int tls_go_buildinfo_version(const uint8_t *p, size_t len, char *out, size_t out_len)
{
	static const char magic[] = "\xff Go buildinf:";
	const uint8_t *q = p + 32, *end = p + len;
	uint64_t n;
	bool ok;

	if (!out_len || len < 32 || memcmp(p, magic, 14) != 0)
		return -1;
	out[0] = '\0';
	/* Go 1.18 on: the strings follow the header, each preceded by its
	 * length as a uvarint. Before: pointers to string headers. */
	if (!(p[15] & 2))
		return 0;
	n = uvarint(&q, end, &ok);
	if (!ok || n > (uint64_t)(end - q) || n >= out_len)
		return -1;
	memcpy(out, q, n);
	out[n] = '\0';
	return 1;
}

int tls_go_version_minor(const char *v)
{
	char *end;
	long minor;

	/* "go1.19.8", "go1.21rc2", "go1.22.0 X:boringcrypto"; not
	 * "devel go1.23-abcdef": a development tree has no known layout. */
	if (strncmp(v, "go1.", 4) != 0)
		return -1;
	minor = strtol(v + 4, &end, 10);
	if (end == v + 4 || minor < 0 || minor > 1000)
		return -1;
	return (int)minor;
}

#define CS_STR(x) #x
#define CS_SONAME(major) "libcapstone.so." CS_STR(major)

/* The capstone calls used, resolved from a dlopen() reference. */
struct capstone {
	void *dl;
	cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
	cs_err (*close)(csh *handle);
	cs_insn *(*malloc)(csh handle);
	void (*free)(cs_insn *insn, size_t count);
	bool (*disasm_iter)(csh handle, const uint8_t **code, size_t *size,
			    uint64_t *address, cs_insn *insn);
};

static char capstone_err[144];

static void capstone_put(struct capstone *cs)
{
	if (cs->dl)
		dlclose(cs->dl);
	cs->dl = NULL;
}

/* A reference to the library; 0, or -ENOENT with the reason in
 * capstone_err. References nest: the library stays mapped until the last
 * one is put. */
static int capstone_get(struct capstone *cs)
{
	const char *e;

	cs->dl = dlopen(CS_SONAME(CS_API_MAJOR), RTLD_NOW | RTLD_LOCAL);
	if (!cs->dl) {
		e = dlerror();
		snprintf(capstone_err, sizeof(capstone_err), "%s (install libcapstone%d)",
			 e ? e : CS_SONAME(CS_API_MAJOR), CS_API_MAJOR);
		return -ENOENT;
	}
	cs->open = (cs_err (*)(cs_arch, cs_mode, csh *))dlsym(cs->dl, "cs_open");
	cs->close = (cs_err (*)(csh *))dlsym(cs->dl, "cs_close");
	cs->malloc = (cs_insn *(*)(csh))dlsym(cs->dl, "cs_malloc");
	cs->free = (void (*)(cs_insn *, size_t))dlsym(cs->dl, "cs_free");
	cs->disasm_iter = (bool (*)(csh, const uint8_t **, size_t *, uint64_t *, cs_insn *))
		dlsym(cs->dl, "cs_disasm_iter");
	if (!cs->open || !cs->close || !cs->malloc || !cs->free || !cs->disasm_iter) {
		snprintf(capstone_err, sizeof(capstone_err), "%s lacks cs_disasm_iter or "
			 "another call kspan uses", CS_SONAME(CS_API_MAJOR));
		capstone_put(cs);
		return -ENOENT;
	}
	return 0;
}

int tls_go_find_rets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *rets, int max)
{
	const uint8_t *p = code;
	uint64_t addr = vaddr;
	size_t left = len;
	struct capstone cs;
	cs_insn *insn;
	csh h;
	int n = 0;

	if (capstone_get(&cs))
		return -ENOENT;
	if (cs.open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
		capstone_put(&cs);
		return -ENOMEM;
	}
	insn = cs.malloc(h);
	if (!insn) {
		cs.close(&h);
		capstone_put(&cs);
		return -ENOMEM;
	}
	while (left && cs.disasm_iter(h, &p, &left, &addr, insn)) {
		if (insn->id != X86_INS_RET)
			continue;
		if (n >= max) {
			n = -E2BIG;
			break;
		}
		rets[n++] = insn->address;
	}
	/* Bytes capstone could not decode: RETs past them would be missed,
	 * and a missed RET leaves the call's record behind. */
	if (n >= 0 && left)
		n = -EILSEQ;
	cs.free(insn, 1);
	cs.close(&h);
	capstone_put(&cs);
	return n;
}

/* Bytes of the file at a virtual address, through the PT_LOAD segment that
 * holds them; NULL when they are not all in the file. */
static const uint8_t *vaddr_bytes(Elf *elf, uint64_t v, uint64_t n)
{
	size_t size, nph;
	const char *raw = elf_rawfile(elf, &size);
	GElf_Phdr ph;

	if (!raw || elf_getphdrnum(elf, &nph))
		return NULL;
	for (size_t i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (v < ph.p_vaddr || v - ph.p_vaddr > ph.p_filesz ||
		    n > ph.p_filesz - (v - ph.p_vaddr))
			continue;
		if (ph.p_offset > size || v - ph.p_vaddr + n > size - ph.p_offset)
			return NULL;
		return (const uint8_t *)raw + ph.p_offset + (v - ph.p_vaddr);
	}
	return NULL;
}

static Elf_Scn *section(Elf *elf, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh->sh_name);
		if (name && strcmp(name, want) == 0)
			return scn;
	}
	return NULL;
}

struct go_syms {
	GElf_Sym fn[KSPAN_TLS_GO_FN_MAX];
	uint64_t itab;
	uint64_t build_version;		/* runtime.buildVersion: a Go string */
	bool has_symtab;
};

static void read_symtab(Elf *elf, struct go_syms *s)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t nsyms;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		s->has_symtab = true;
		nsyms = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < nsyms; i++) {
			const char *name;
			GElf_Sym sym;

			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name)
				continue;
			if (name[0] == 'c' && strncmp(name, "crypto/tls.(*Conn).", 19) == 0) {
				for (int k = 0; k < KSPAN_TLS_GO_FN_MAX; k++)
					if (strcmp(name, fn_names[k]) == 0)
						s->fn[k] = sym;
			} else if (name[0] == 'g') {
				for (size_t k = 0; k < sizeof(itab_names) / sizeof(itab_names[0]); k++)
					if (strcmp(name, itab_names[k]) == 0)
						s->itab = sym.st_value;
			} else if (name[0] == 'r' && strcmp(name, "runtime.buildVersion") == 0) {
				s->build_version = sym.st_value;
			}
		}
	}
}

/* Before Go 1.18 the version is only a Go string (pointer, length) in the
 * data: read it through runtime.buildVersion. */
static void version_from_symbol(Elf *elf, uint64_t v, char *out, size_t out_len)
{
	const uint8_t *hdr = v ? vaddr_bytes(elf, v, 16) : NULL, *str;
	uint64_t ptr, len;

	if (!hdr)
		return;
	memcpy(&ptr, hdr, 8);
	memcpy(&len, hdr + 8, 8);
	if (!len || len >= out_len || !(str = vaddr_bytes(elf, ptr, len)))
		return;
	memcpy(out, str, len);
	out[len] = '\0';
}

/* The byte offset of member in the struct type named type, or -1. */
struct dw_want {
	const char *type;
	const char *member;
	long off;
};

static void dwarf_members(Dwarf_Die *st, struct dw_want *w, size_t nw, const char *name)
{
	Dwarf_Die m;

	if (dwarf_child(st, &m) != 0)
		return;
	do {
		Dwarf_Attribute attr;
		Dwarf_Word off;
		const char *mname;

		if (dwarf_tag(&m) != DW_TAG_member || !(mname = dwarf_diename(&m)))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &attr) ||
		    dwarf_formudata(&attr, &off) != 0)
			continue;
		for (size_t i = 0; i < nw; i++)
			if (w[i].off < 0 && strcmp(w[i].type, name) == 0 &&
			    strcmp(w[i].member, mname) == 0)
				w[i].off = (long)off;
	} while (dwarf_siblingof(&m, &m) == 0);
}

/* Offsets from DWARF. 1: all found; 0: no DWARF; -1: some missing (the
 * first one named in why). */
static int offsets_from_dwarf(Elf *elf, struct kspan_tls_go_cfg *cfg, char *why, size_t why_len)
{
	struct dw_want w[] = {
		{ "crypto/tls.Conn", "conn", -1 },
		{ "net.TCPConn", "conn", -1 },
		{ "net.conn", "fd", -1 },
		{ "net.netFD", "pfd", -1 },
		{ "internal/poll.FD", "Sysfd", -1 },
		{ "runtime.g", "stack", -1 },
		{ "runtime.stack", "lo", -1 },
		{ "runtime.stack", "hi", -1 },
	};
	size_t nw = sizeof(w) / sizeof(w[0]), hsize;
	Dwarf_Off off = 0, next;
	Dwarf *dw;

	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw)
		return 0;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, die;

		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
			do {
				const char *name;

				if (dwarf_tag(&die) == DW_TAG_structure_type &&
				    (name = dwarf_diename(&die)))
					dwarf_members(&die, w, nw, name);
			} while (dwarf_siblingof(&die, &die) == 0);
		}
		off = next;
	}
	dwarf_end(dw);
	for (size_t i = 0; i < nw; i++) {
		if (w[i].off < 0) {
			snprintf(why, why_len, "its DWARF has no %s.%s", w[i].type, w[i].member);
			return -1;
		}
	}
	if (w[6].off != 0 || w[7].off != 8) {
		snprintf(why, why_len, "its runtime.stack is not {lo, hi}");
		return -1;
	}
	cfg->conn_off = w[0].off;
	cfg->tcpconn_fd_off = w[1].off + w[2].off;
	cfg->netfd_sysfd_off = w[3].off + w[4].off;
	cfg->g_stack_off = w[5].off;
	return 1;
}

/* Without DWARF: the layout every Go release from 1.17 (the first with the
 * register ABI on amd64) to 1.23 has. tls.Conn starts with conn net.Conn;
 * net.TCPConn is a net.conn whose first field is fd *netFD; netFD starts
 * with pfd poll.FD, whose Sysfd follows a 16-byte fdMutex; runtime.g
 * starts with its stack bounds. */
#define GO_KNOWN_MIN	17
#define GO_KNOWN_MAX	23

static bool offsets_known(int minor, struct kspan_tls_go_cfg *cfg)
{
	if (minor < GO_KNOWN_MIN || minor > GO_KNOWN_MAX)
		return false;
	cfg->conn_off = 0;
	cfg->tcpconn_fd_off = 0;
	cfg->netfd_sysfd_off = 16;
	cfg->g_stack_off = 0;
	return true;
}

static int refuse(struct tls_go *g, const char *fmt, const char *arg)
{
	snprintf(g->why, sizeof(g->why), fmt, arg);
	return -1;
}

/* Each function's entry and RETs, as file offsets for the uprobes. */
static int find_fns(Elf *elf, const struct go_syms *s, struct tls_go *g)
{
	for (int k = 0; k < KSPAN_TLS_GO_FN_MAX; k++) {
		const GElf_Sym *f = &s->fn[k];
		uint64_t rets[TLS_GO_RET_MAX];
		const uint8_t *code;
		int n;

		if (!f->st_value)
			continue;	/* a handshake side the linker left out */
		code = vaddr_bytes(elf, f->st_value, f->st_size);
		if (!code || !f->st_size)
			return refuse(g, "%s is not in the file", fn_names[k]);
		n = tls_go_find_rets(code, f->st_size, f->st_value, rets, TLS_GO_RET_MAX);
		if (n == -E2BIG)
			return refuse(g, "%s has more RET instructions than kspan probes", fn_names[k]);
		if (n <= 0)
			return refuse(g, "%s could not be disassembled to its end", fn_names[k]);
		g->cfg.fn_vaddr[k] = f->st_value;
		g->entry_off[k] = tls_elf_vaddr_off(elf, f->st_value);
		g->nret[k] = n;
		if (!g->entry_off[k])
			return refuse(g, "%s is not in an executable segment", fn_names[k]);
		for (int i = 0; i < n; i++)
			if (!(g->ret_off[k][i] = tls_elf_vaddr_off(elf, rets[i])))
				return refuse(g, "%s is not in an executable segment", fn_names[k]);
	}
	return 1;
}

static int inspect(Elf *elf, struct tls_go *g)
{
	const uint8_t *bi = NULL;
	struct capstone cs;
	struct go_syms s = {};
	Elf_Data *data;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf_Scn *scn;
	int minor, r;

	scn = section(elf, ".go.buildinfo", &sh);
	if (scn && sh.sh_type != SHT_NOBITS && (data = elf_getdata(scn, NULL)) && data->d_buf)
		bi = data->d_buf;
	if (!bi && !section(elf, ".gopclntab", &sh) && !section(elf, ".note.go.buildid", &sh))
		return 0;	/* not a Go binary */
	if (bi)
		tls_go_buildinfo_version(bi, data->d_size, g->version, sizeof(g->version));
	read_symtab(elf, &s);
	if (!s.has_symtab) {
		/* Stripped (-ldflags=-s): say so only if it has crypto/tls,
		 * whose function names stay in .gopclntab. */
		scn = section(elf, ".gopclntab", &sh);
		data = scn ? elf_getdata(scn, NULL) : NULL;
		if (!data || !data->d_buf ||
		    !memmem(data->d_buf, data->d_size, fn_names[KSPAN_TLS_GO_READ],
			    strlen(fn_names[KSPAN_TLS_GO_READ])))
			return 0;
		return refuse(g, "%s", "the binary is stripped (no .symtab), and finding "
			      "functions through .gopclntab is not implemented; build it "
			      "without -ldflags=-s");
	}
	if (!s.fn[KSPAN_TLS_GO_READ].st_value || !s.fn[KSPAN_TLS_GO_WRITE].st_value)
		return 0;	/* no crypto/tls */
	if (!g->version[0])
		version_from_symbol(elf, s.build_version, g->version, sizeof(g->version));
	if (!gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
		return refuse(g, "%s", "Go TLS is traced on x86-64 only");
	minor = tls_go_version_minor(g->version);
	if (minor >= 0 && minor < 17)
		return refuse(g, "%s is older than go1.17: its functions take their "
			      "arguments on the stack, which the probes do not read",
			      g->version);
	if (!s.itab)
		return refuse(g, "%s", "it has no go.itab.*net.TCPConn,net.Conn symbol");
	r = offsets_from_dwarf(elf, &g->cfg, g->why, sizeof(g->why));
	if (r < 0)
		return -1;
	g->from_dwarf = r > 0;
	if (!r && !offsets_known(minor, &g->cfg)) {
		snprintf(g->why, sizeof(g->why), "it has no DWARF (-ldflags=-w) and the "
			 "field offsets of %s are not known; build it without -w",
			 g->version[0] ? g->version : "its Go version");
		return -1;
	}
	g->cfg.tcpconn_itab = s.itab;
	/* One capstone reference across the functions' disassembly. */
	if (capstone_get(&cs))
		return refuse(g, "capstone (finds the RETs) did not load: %s", capstone_err);
	r = find_fns(elf, &s, g);
	capstone_put(&cs);
	return r;
}

int tls_go_inspect(const char *path, struct tls_go *g)
{
	Elf *elf;
	int fd, r;

	memset(g, 0, sizeof(*g));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		r = 0;
	else
		r = inspect(elf, g);
	if (elf)
		elf_end(elf);
	close(fd);
	return r;
}
