/* SPDX-License-Identifier: Apache-2.0 */
/* TLS plaintext capture: finding TLS libraries in traced processes and
 * attaching the uprobes of bpf/tls.bpf.c to them, one set per library file
 * (inode), for every process that maps it (pid -1). */
#ifndef __KSPAN_TLS_USER_H
#define __KSPAN_TLS_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kspan_tls.h"

/* --- ELF symbols (tls_elf.c) ------------------------------------------ */

/* The functions kspan probes, in the order of struct tls_syms.off. */
enum tls_sym {
	TLS_SYM_SSL_WRITE = 0,
	TLS_SYM_SSL_READ,
	TLS_SYM_SSL_WRITE_EX,
	TLS_SYM_SSL_READ_EX,
	TLS_SYM_SSL_DO_HANDSHAKE,
	TLS_SYM_SSL_FREE,
	TLS_SYM_GNUTLS_SEND,		/* gnutls_record_send */
	TLS_SYM_GNUTLS_RECV,		/* gnutls_record_recv */
	TLS_SYM_GNUTLS_SEND_RANGE,	/* gnutls_record_send_range (gnutls-cli) */
	TLS_SYM_GNUTLS_HANDSHAKE,
	TLS_SYM_GNUTLS_DEINIT,
	TLS_SYM_MAX,
};

extern const char *const tls_sym_names[TLS_SYM_MAX];

enum tls_lib_kind {
	TLS_LIB_NONE = 0,
	TLS_LIB_OPENSSL = 1,		/* SSL_write and SSL_read (libssl, node, static) */
	TLS_LIB_GNUTLS = 2,		/* gnutls_record_send and _recv */
	TLS_LIB_GO = 4,			/* Go crypto/tls (tls_go.c) */
};

struct tls_syms {
	uint64_t off[TLS_SYM_MAX];	/* file offset of each function, 0: absent */
	/* SSL_read/SSL_write built as a thin wrapper (tls_wrapper_sites):
	 * offsets into the function of its call to the internal function and
	 * of the branch on the result; 0: probe the entry and the return. */
	uint8_t call_off[TLS_SYM_MAX], ret_off[TLS_SYM_MAX];
	unsigned kinds;			/* enum tls_lib_kind bits found */
};

/* Find the probed functions among the defined function symbols of an ELF
 * file (.dynsym, then .symtab), as file offsets for uprobes. Returns the
 * number found, or -errno when the file is not a readable ELF. */
int tls_elf_resolve(const char *path, struct tls_syms *s);

/* Whether code (the first bytes of an x86-64 SSL_read or SSL_write) is
 * OpenSSL 3's thin wrapper: stack canary, a sign check of num, then
 * `call ssl_{read,write}_internal(s, buf, num, &count)` with the count on
 * top of the stack, and a branch on the call's result. A uprobe on the entry
 * must single-step its first instruction and a uretprobe adds a return
 * trap; x86 uprobes emulate a call and a conditional branch, so probes
 * there cost one trap each. On a match, *call and *ret are their offsets
 * (the call's registers are SSL_read_ex's arguments; at the branch eax is
 * the result and (%rsp) the count) and it returns true. */
bool tls_wrapper_sites(const uint8_t *code, size_t len, uint8_t *call, uint8_t *ret);

#define TLS_WRAPPER_LEN 0x27		/* bytes tls_wrapper_sites needs */

struct Elf;
/* Virtual address to file offset, through the executable PT_LOAD segment
 * that holds it. 0 when none does. */
uint64_t tls_elf_vaddr_off(struct Elf *elf, uint64_t vaddr);

/* One line of /proc/PID/maps. */
struct tls_map_ent {
	uint64_t start, end;
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	bool exec;			/* mapped executable */
	const char *path;		/* into the line: absolute, or NULL */
	size_t path_len;
};

/* Parse a maps line (NUL-terminated, with or without its newline). The path
 * is absent for anonymous mappings and for "[heap]"-like names; a file
 * replaced on disk (" (deleted)") has none either. Returns 0, or -1 for a
 * line that is not a maps line. */
int tls_maps_parse(const char *line, struct tls_map_ent *e);

/* --- ServerHello (tls_hello.c) ---------------------------------------- */

/* The protocol version a ServerHello chose: the supported_versions
 * extension (TLS 1.3) or the legacy version field. p holds the handshake
 * message (has_record: preceded by its 5-byte record header). Returns the
 * version (0x0304 for TLS 1.3), -2 when p ends before the answer, -1 when
 * it is not a ServerHello. */
int tls_hello_version(const uint8_t *p, size_t len, bool has_record);

/* "1.3", "1.2", "1.1", "1.0" or "3.0" (tls.protocol.version), or NULL. */
const char *tls_version_name(int version);

/* --- Go crypto/tls (tls_go.c) ----------------------------------------- */

#define TLS_GO_RET_MAX	32		/* RET instructions probed per function */

/* What the probes of a Go binary need. */
struct tls_go {
	char version[48];		/* "go1.19.8", "" when not found */
	bool from_dwarf;		/* offsets from DWARF, else the known layout */
	uint64_t entry_off[KSPAN_TLS_GO_FN_MAX];	/* file offsets, 0: absent */
	uint32_t nret[KSPAN_TLS_GO_FN_MAX];
	uint64_t ret_off[KSPAN_TLS_GO_FN_MAX][TLS_GO_RET_MAX];
	struct kspan_tls_go_cfg cfg;	/* fn_vaddr, itab and offsets for BPF */
	char why[192];			/* why it cannot be traced */
};

/* Inspect an ELF file for Go crypto/tls. Returns 1 when it can be traced
 * (g filled), 0 when it is not a Go binary, has no crypto/tls or cannot be
 * read as an ELF, -1 when it has crypto/tls that cannot be traced (g->why
 * says why). */
int tls_go_inspect(const char *path, struct tls_go *g);
/* "crypto/tls.(*Conn).Read" for KSPAN_TLS_GO_READ, ... */
const char *tls_go_fn_name(int fn);
/* The Go version in a .go.buildinfo section (Go 1.18 on, inline strings).
 * Returns 1 with out set, 0 for the older format (pointers: no version
 * here), -1 when p is not build info or the string does not fit. */
int tls_go_buildinfo_version(const uint8_t *p, size_t len, char *out, size_t out_len);
/* 19 for "go1.19.8"; -1 when v is not a release version. */
int tls_go_version_minor(const char *v);
/* Addresses of the RET instructions in x86-64 code placed at vaddr, into
 * rets. Returns how many, -E2BIG past max, -EILSEQ when some bytes do not
 * decode (RETs could hide after them), -ENOMEM, -ENOENT when capstone
 * cannot be loaded. */
int tls_go_find_rets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *rets, int max);

/* --- discovery and attachment (tls.c, needs the skeleton) -------------- */

struct kspan_bpf;
struct ring_buffer;
struct tls_ctx;

struct tls_stats {
	uint64_t libs;			/* library files with probes attached */
	uint64_t probes;		/* uprobe links */
	uint64_t attach_failed;		/* uprobe attach calls that failed */
	uint64_t detached;		/* library files whose probes were removed */
	uint64_t scans;			/* /proc/PID/maps read */
	uint64_t elf_checked;		/* files whose symbols were read */
	uint64_t libs_full;		/* attaches refused: TLS_LIBS_MAX sets in use */
};

/* Scan the processes traced now and attach; then follow execs and exits
 * through the tls_procs ring, which is added to rb. */
/* per_process: with a pid filter, probes for each traced process of its own
 * (see tls.c) rather than one set per library file for every process. */
struct tls_ctx *tls_start(struct kspan_bpf *skel, struct ring_buffer *rb, bool per_process);
/* Due rescans of new processes, detach of unused libraries. Call every
 * 100 ms or so with the monotonic time. */
void tls_poll(struct tls_ctx *t, uint64_t now_ns);
void tls_stop(struct tls_ctx *t);
const struct tls_stats *tls_ctx_stats(const struct tls_ctx *t);
/* Sum of the per-CPU BPF counters, out[KSPAN_TLS_CNT_MAX]. */
int tls_counters(const struct tls_ctx *t, uint64_t *out);
/* One "kspan: tls: k=v ..." line. */
void tls_print_counters(const struct tls_ctx *t, FILE *f);

#endif /* __KSPAN_TLS_USER_H */
