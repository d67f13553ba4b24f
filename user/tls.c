// SPDX-License-Identifier: Apache-2.0
/* TLS library discovery and uprobe attachment.
 *
 * A library is a file (device and inode as /proc/PID/maps names them). With
 * no pid filter its uprobes are attached once, for every process (pid -1),
 * through /proc/PID/root of the first traced process seen mapping it, so
 * files inside containers work too; every later process that maps the same
 * file is covered from its first call. With a pid filter (selectors, --pid)
 * each traced process gets the probes for its own pid, so that processes
 * outside the filter take no breakpoint at all; a traced process's new
 * children are reported by tls_fork and get theirs at once (their calls
 * before that are missed). Executable mappings of traced processes
 * are checked once per file for the OpenSSL or GnuTLS functions (libssl,
 * libgnutls, node, static binaries) and for Go's crypto/tls (tls_go.c);
 * files without them are remembered so that their ELF is read only once.
 *
 * Processes are found by a scan of /proc at start, through the tls_exec
 * program for programs started later (their maps are read 50 ms, 250 ms,
 * 1 s and 3 s after exec, once the dynamic loader has mapped the
 * libraries), and by a full rescan every 10 s for libraries loaded later
 * with dlopen. Probes of a library are removed 10 s after the last traced
 * process that maps it exited, a process's own probes as soon as it exits
 * or execs (tls_exit reports the exits of those processes only); all are
 * removed when kspan stops. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kspan.skel.h"
#include "loader.h"
#include "log.h"
#include "tls.h"

#define TLS_LIBS_MAX		256
#define TLS_PROCS_MAX		4096
#define TLS_PROC_LIBS		8
#define TLS_PENDING_MAX		1024
#define TLS_NEG_MAX		8192	/* power of two */
/* Entry and return probes of each library function, and for Go the entry
 * and every RET of each crypto/tls function. */
#define TLS_LINKS_MAX		(2 * TLS_SYM_MAX + KSPAN_TLS_GO_FN_MAX * (1 + TLS_GO_RET_MAX))
#define NS			1000000000ull
#define TLS_GRACE_NS		(10 * NS)
#define TLS_RESCAN_NS		(10 * NS)
#define TLS_REAP_MAX		(4 * TLS_LINKS_MAX)

/* Delays after exec at which a new process's maps are read. */
static const uint64_t rescan_after_exec[] = {
	50000000ull, 250000000ull, 1000000000ull, 3000000000ull,
};
#define TLS_STEPS (sizeof(rescan_after_exec) / sizeof(rescan_after_exec[0]))

/* A library file's probes. Without a pid filter one set serves every
 * process mapping the file. With one, each traced process gets its own set,
 * attached for its pid: the kernel then puts breakpoints only into traced
 * processes, and others mapping the same libssl (a load generator, a
 * sidecar) never trap. */
struct tls_lib {
	bool used;
	uint64_t dev, ino;
	uint32_t pid;			/* the probes' process; 0: every process */
	char *path;			/* as first attached, for messages */
	char *file;			/* its path inside the process's root */
	struct tls_syms syms;		/* for another process's probes */
	unsigned kinds;			/* enum tls_lib_kind bits */
	struct bpf_link *links[TLS_LINKS_MAX];
	int nlinks;
	uint32_t users;			/* traced processes known to map it */
	uint64_t unused_since;		/* monotonic ns; 0 while in use */
};

struct tls_proc {
	uint32_t pid;			/* 0: free slot */
	uint8_t nlibs;
	uint16_t libs[TLS_PROC_LIBS];	/* indices into libs */
};

struct tls_pending {
	uint32_t pid;
	uint8_t step;			/* index into rescan_after_exec */
	uint64_t due;
};

struct tls_file {
	uint64_t dev, ino;		/* ino 0: free slot */
};

/* Removing a uprobe waits for RCU grace periods, about 100 ms per probe
 * here: links are destroyed by a thread of their own, so that the main loop
 * goes on draining the ring buffer. */
struct tls_reaper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bpf_link *q[TLS_REAP_MAX];
	struct bpf_link *batch[TLS_REAP_MAX];	/* the thread's copy of q */
	uint32_t n;
	bool stop;
};

struct tls_ctx {
	struct kspan_bpf *skel;
	bool filter;			/* the pid filter is on */
	bool per_process;		/* probes per traced process (filter on) */
	bool reaper_on;
	struct tls_reaper reap;
	uint32_t self;
	uint64_t last_full;
	struct tls_stats st;
	struct tls_lib libs[TLS_LIBS_MAX];
	struct tls_proc procs[TLS_PROCS_MAX];
	struct tls_pending pend[TLS_PENDING_MAX];
	uint32_t npend;
	struct tls_file neg[TLS_NEG_MAX];	/* files without TLS functions */
	uint32_t nneg;
};

/* Which program goes on each function, at entry and at return. */
struct tls_hook {
	enum tls_sym sym;
	bool need;			/* the library is not probed without it */
	struct bpf_program *entry;
	struct bpf_program *ret;
	struct bpf_program *site;	/* at a wrapper's internal call (tls_wrapper_sites) */
};

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static uint32_t file_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full);

	return (uint32_t)(h >> 32) & (TLS_NEG_MAX - 1);
}

static bool neg_has(const struct tls_ctx *t, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = file_hash(dev, ino), n = 0; n < TLS_NEG_MAX;
	     i = (i + 1) & (TLS_NEG_MAX - 1), n++) {
		if (!t->neg[i].ino)
			return false;
		if (t->neg[i].dev == dev && t->neg[i].ino == ino)
			return true;
	}
	return false;
}

static void neg_add(struct tls_ctx *t, uint64_t dev, uint64_t ino)
{
	uint32_t i;

	/* Open addressing: start over when three quarters full. */
	if (t->nneg >= TLS_NEG_MAX / 4 * 3) {
		memset(t->neg, 0, sizeof(t->neg));
		t->nneg = 0;
	}
	for (i = file_hash(dev, ino); t->neg[i].ino; i = (i + 1) & (TLS_NEG_MAX - 1))
		if (t->neg[i].dev == dev && t->neg[i].ino == ino)
			return;
	t->neg[i].dev = dev;
	t->neg[i].ino = ino;
	t->nneg++;
}

static int lib_find(const struct tls_ctx *t, uint64_t dev, uint64_t ino, uint32_t pid)
{
	for (int i = 0; i < TLS_LIBS_MAX; i++)
		if (t->libs[i].used && t->libs[i].dev == dev && t->libs[i].ino == ino &&
		    t->libs[i].pid == pid)
			return i;
	return -1;
}

static void *reaper_main(void *arg)
{
	struct tls_reaper *r = arg;
	uint32_t n;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->n && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->n)
			break;
		/* Take the queue whole; destroy in the order it was queued. */
		n = r->n;
		memcpy(r->batch, r->q, n * sizeof(r->q[0]));
		r->n = 0;
		pthread_mutex_unlock(&r->lock);
		for (uint32_t i = 0; i < n; i++)
			bpf_link__destroy(r->batch[i]);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void link_destroy(struct tls_ctx *t, struct bpf_link *link)
{
	struct tls_reaper *r = &t->reap;

	if (t->reaper_on) {
		pthread_mutex_lock(&r->lock);
		if (r->n < TLS_REAP_MAX) {
			r->q[r->n++] = link;
			pthread_cond_signal(&r->cond);
			link = NULL;
		}
		pthread_mutex_unlock(&r->lock);
	}
	bpf_link__destroy(link);	/* no thread, or its queue full: here */
}

static void lib_detach(struct tls_ctx *t, struct tls_lib *l)
{
	/* Newest first: each entry probe goes before its return probe. */
	for (int i = l->nlinks - 1; i >= 0; i--)
		link_destroy(t, l->links[i]);
	log_debug("tls: removed %d probes from %s", l->nlinks, l->path);
	t->st.probes -= l->nlinks;
	t->st.libs--;
	t->st.detached++;
	free(l->path);
	free(l->file);
	memset(l, 0, sizeof(*l));
}

static int hooks_for(struct tls_ctx *t, unsigned kinds, struct tls_hook *h)
{
	struct kspan_bpf *s = t->skel;
	int n = 0;

	if (kinds & TLS_LIB_OPENSSL) {
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_WRITE, true, s->progs.tls_write, s->progs.tls_ret_int,
					    s->progs.tls_write_ex };
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_READ, true, s->progs.tls_read, s->progs.tls_ret_int,
					    s->progs.tls_read_ex };
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_WRITE_EX, false, s->progs.tls_write_ex, s->progs.tls_ret_int, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_READ_EX, false, s->progs.tls_read_ex, s->progs.tls_ret_int, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_DO_HANDSHAKE, false, s->progs.tls_handshake, s->progs.tls_ret_int, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_SSL_FREE, false, s->progs.tls_free, NULL, NULL };
	}
	if (kinds & TLS_LIB_GNUTLS) {
		h[n++] = (struct tls_hook){ TLS_SYM_GNUTLS_SEND, true, s->progs.tls_write, s->progs.tls_ret_long, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_GNUTLS_RECV, true, s->progs.tls_read, s->progs.tls_ret_long, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_GNUTLS_SEND_RANGE, false, s->progs.tls_write, s->progs.tls_ret_long, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_GNUTLS_HANDSHAKE, false, s->progs.tls_handshake_gnutls, s->progs.tls_ret_int, NULL };
		h[n++] = (struct tls_hook){ TLS_SYM_GNUTLS_DEINIT, false, s->progs.tls_free, NULL, NULL };
	}
	return n;
}

static int attach_one(struct tls_ctx *t, struct tls_lib *l, struct bpf_program *p,
		      const char *path, uint64_t off, bool ret, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .bpf_cookie = cookie);
	struct bpf_link *link;

	if (l->nlinks >= TLS_LINKS_MAX)
		return -E2BIG;
	link = bpf_program__attach_uprobe_opts(p, l->pid ? (int)l->pid : -1, path, off, &opts);
	if (!link) {
		t->st.attach_failed++;
		return -errno;
	}
	l->links[l->nlinks++] = link;
	return 0;
}

_Static_assert(TLS_LIBS_MAX <= KSPAN_TLS_GO_SLOTS, "a tls_go_cfgs slot per library");

/* Go crypto/tls: the binary's offsets into tls_go_cfgs[slot], then each
 * function's RET probes and its entry probe, all with the cookie
 * (function << 16 | slot). RETs first, as for uretprobes. */
static int attach_go(struct tls_ctx *t, struct tls_lib *l, int slot, const char *path,
		     const struct tls_go *go)
{
#if defined(__x86_64__)
	struct kspan_bpf *s = t->skel;
	uint32_t key = slot;
	int err = 0;

	if (bpf_map_update_elem(bpf_map__fd(s->maps.tls_go_cfgs), &key, &go->cfg, BPF_ANY))
		return -errno;
	for (int fn = 0; fn < KSPAN_TLS_GO_FN_MAX && !err; fn++) {
		uint64_t cookie = (uint64_t)fn << 16 | (uint32_t)slot;

		if (!go->entry_off[fn])
			continue;
		/* Write is read whole at its entry: no return probes. */
		for (uint32_t i = 0; i < go->nret[fn] && fn != KSPAN_TLS_GO_WRITE && !err; i++)
			err = attach_one(t, l, s->progs.tls_go_ret, path, go->ret_off[fn][i],
					 false, cookie);
		if (!err)
			err = attach_one(t, l, s->progs.tls_go_enter, path, go->entry_off[fn],
					 false, cookie);
	}
	return err;
#else
	return -EOPNOTSUPP;
#endif
}

/* Attach every hook the file has. Returns the library's index or -errno. */
static int lib_attach(struct tls_ctx *t, uint64_t dev, uint64_t ino, uint32_t pid,
		      const char *path, const char *name, const char *file,
		      const struct tls_syms *syms, const struct tls_go *go)
{
	struct tls_hook hooks[TLS_SYM_MAX];
	struct tls_lib *l = NULL;
	int n, i, err = 0, sites = 0;

	for (i = 0; i < TLS_LIBS_MAX; i++) {
		if (!t->libs[i].used) {
			l = &t->libs[i];
			break;
		}
	}
	if (!l) {
		t->st.libs_full++;
		return -ENOSPC;
	}
	l->used = true;
	l->dev = dev;
	l->ino = ino;
	l->pid = pid;
	l->kinds = syms->kinds;
	l->syms = *syms;
	n = hooks_for(t, syms->kinds, hooks);
	for (int k = 0; k < n && !err; k++) {
		uint64_t off = syms->off[hooks[k].sym];

		if (!off)
			continue;
		/* The return probe first: a call entered between the two
		 * would otherwise leave its record behind for good. */
		if (hooks[k].site && syms->call_off[hooks[k].sym]) {
			/* A thin wrapper: the internal call is SSL_read_ex's
			 * (SSL_write_ex's) and the branch after it sees its
			 * result, both probed without a single-step. */
			err = attach_one(t, l, hooks[k].ret, path, off + syms->ret_off[hooks[k].sym],
					 false, 0);
			if (!err)
				err = attach_one(t, l, hooks[k].site, path,
						 off + syms->call_off[hooks[k].sym], false, 0);
			sites++;
		} else {
			if (hooks[k].ret)
				err = attach_one(t, l, hooks[k].ret, path, off, true, 0);
			if (!err)
				err = attach_one(t, l, hooks[k].entry, path, off, false, 0);
		}
		if (err && !hooks[k].need)
			err = 0;
	}
	if (!err && go)
		err = attach_go(t, l, i, path, go);
	l->path = strdup(name);
	l->file = strdup(file);
	t->st.libs++;
	t->st.probes += l->nlinks;
	if (err || !l->path || !l->file) {
		if (!err)
			err = -ENOMEM;
		log_warn("tls: failed to attach uprobes to %s: %s; TLS traffic "
			 "through it is not traced", name, strerror(-err));
		lib_detach(t, l);
		t->st.detached--;
		return err;
	}
	if (log_on(KLOG_DEBUG)) {
		char what[128];

		snprintf(what, sizeof(what), "%s%s%s", l->kinds & TLS_LIB_OPENSSL ? " openssl" : "",
			 l->kinds & TLS_LIB_GNUTLS ? " gnutls" : "", go ? " go crypto/tls" : "");
		log_debug("tls: attached %d probes to %s (%s%s%s%s%s)", l->nlinks,
			  name, what + 1, go ? ", " : "", go ? go->version : "",
			  !go ? "" : go->from_dwarf ? ", offsets from DWARF" :
			  ", offsets of its Go version",
			  sites ? ", SSL_read/SSL_write at their internal call" : "");
	}
	return i;
}

static struct tls_proc *proc_find(struct tls_ctx *t, uint32_t pid)
{
	for (int i = 0; i < TLS_PROCS_MAX; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

static void proc_gone(struct tls_ctx *t, uint32_t pid, uint64_t now)
{
	struct tls_proc *p = proc_find(t, pid);

	if (!p)
		return;
	for (int i = 0; i < p->nlibs; i++) {
		struct tls_lib *l = &t->libs[p->libs[i]];

		if (!l->used || !l->users || --l->users)
			continue;
		/* A process's own probes go with it: its pid may come back
		 * as another process, which they would not follow. */
		if (l->pid)
			lib_detach(t, l);
		else
			l->unused_since = now;
	}
	memset(p, 0, sizeof(*p));
}

static bool proc_traced(const struct tls_ctx *t, uint32_t pid)
{
	uint32_t word = pid / 64;
	uint64_t bits;

	if (pid == t->self)
		return false;
	if (!t->filter)
		return true;
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.pids), &word, &bits))
		return false;
	return bits & (1ULL << (pid % 64));
}

static void proc_note(struct tls_ctx *t, uint32_t pid, const uint16_t *found, int nfound);

/* Read the maps of pid; attach to new TLS libraries; note which it maps. */
static void scan_pid(struct tls_ctx *t, uint32_t pid)
{
	uint16_t found[TLS_PROC_LIBS];
	char path[PATH_MAX + 64], line[PATH_MAX + 256], fdpath[64];
	struct tls_map_ent e;
	uint32_t owner = t->per_process ? pid : 0;
	int nfound = 0, fd;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	t->st.scans++;
	while (fgets(line, sizeof(line), f)) {
		struct tls_syms syms;
		struct tls_go go;
		uint64_t dev;
		int gr;
		bool dup = false;
		int li;

		if (tls_maps_parse(line, &e) || !e.exec || !e.path || !e.ino)
			continue;
		dev = makedev(e.dev_major, e.dev_minor);
		li = lib_find(t, dev, e.ino, owner);
		if (li < 0) {
			if (neg_has(t, dev, e.ino))
				continue;
			/* Through the process's root (containers), held open so
			 * that a process exiting meanwhile does not matter: the
			 * ELF is read and the probes attached through the fd. */
			snprintf(path, sizeof(path), "/proc/%u/root%.*s", pid, (int)e.path_len,
				 e.path);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
			t->st.elf_checked++;
			gr = tls_elf_resolve(fdpath, &syms);
			if (gr >= 0)
				gr = tls_go_inspect(fdpath, &go);
			if (gr > 0)
				syms.kinds |= TLS_LIB_GO;
			else if (gr == -1)
				log_warn("tls: %s: Go crypto/tls is not traced: %s", path, go.why);
			if (!syms.kinds) {
				close(fd);
				neg_add(t, dev, e.ino);
				continue;
			}
			{
				char file[PATH_MAX];

				snprintf(file, sizeof(file), "%.*s", (int)e.path_len, e.path);
				li = lib_attach(t, dev, e.ino, owner, fdpath, path, file, &syms,
						gr > 0 ? &go : NULL);
			}
			close(fd);
			if (li == -ENOSPC)
				continue;	/* the table, not the file: later */
			if (li < 0) {
				neg_add(t, dev, e.ino);
				continue;
			}
		}
		for (int i = 0; i < nfound; i++)
			dup |= found[i] == li;
		if (!dup && nfound < TLS_PROC_LIBS)
			found[nfound++] = li;
	}
	fclose(f);
	proc_note(t, pid, found, nfound);
}

/* A traced process and the libraries it maps, so that its exit releases
 * them (tls_exit reports the processes in tls_pids). */
static void proc_note(struct tls_ctx *t, uint32_t pid, const uint16_t *found, int nfound)
{
	struct tls_proc *p;

	if (!nfound)
		return;
	p = proc_find(t, pid);
	if (!p) {
		uint8_t one = 1;

		p = proc_find(t, 0);
		if (!p) {
			/* Shared libraries stay until kspan stops; a process's
			 * own probes cannot, its pid would be reused. */
			for (int i = 0; i < nfound; i++)
				if (t->libs[found[i]].pid && !t->libs[found[i]].users)
					lib_detach(t, &t->libs[found[i]]);
			return;
		}
		p->pid = pid;
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.tls_pids), &pid, &one, BPF_ANY);
	}
	for (int i = 0; i < nfound; i++) {
		struct tls_lib *l = &t->libs[found[i]];
		bool known = false;

		for (int k = 0; k < p->nlibs; k++)
			known |= p->libs[k] == found[i];
		if (known || p->nlibs >= TLS_PROC_LIBS)
			continue;
		p->libs[p->nlibs++] = found[i];
		l->users++;
		l->unused_since = 0;
	}
}

/* With per-process probes: a traced process that just ran a new program,
 * or was forked, gets the probes of every library file already known, if
 * its root holds the same file. A probe for a pid takes effect when that
 * process maps the file, so the program's first calls (a client's
 * handshake) are seen, where a scan of its maps would come too late. Later
 * scans find the files not known yet. */
static void proc_adopt(struct tls_ctx *t, uint32_t pid)
{
	uint16_t found[TLS_PROC_LIBS];
	int nfound = 0;

	for (int i = 0; i < TLS_LIBS_MAX && nfound < TLS_PROC_LIBS; i++) {
		struct tls_lib *l = &t->libs[i];
		char path[PATH_MAX + 64], fdpath[64];
		struct stat st;
		int fd, li;

		/* Go binaries are programs, not libraries: found by scans. */
		if (!l->used || !l->pid || (l->kinds & TLS_LIB_GO) ||
		    lib_find(t, l->dev, l->ino, pid) >= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, l->file);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || st.st_dev != l->dev || st.st_ino != l->ino) {
			close(fd);
			continue;
		}
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		li = lib_attach(t, l->dev, l->ino, pid, fdpath, path, l->file, &l->syms, NULL);
		close(fd);
		if (li >= 0)
			found[nfound++] = li;
	}
	proc_note(t, pid, found, nfound);
}

static void scan_all(struct tls_ctx *t, uint64_t now)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	t->last_full = now;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (!pid || *end || pid > UINT32_MAX || !proc_traced(t, pid))
			continue;
		scan_pid(t, pid);
	}
	closedir(d);
}

static void pend_add(struct tls_ctx *t, uint32_t pid, uint8_t step, uint64_t now)
{
	if (step >= TLS_STEPS)
		return;
	if (t->npend >= TLS_PENDING_MAX)
		return;		/* the next full rescan finds it */
	t->pend[t->npend++] = (struct tls_pending){
		.pid = pid, .step = step, .due = now + rescan_after_exec[step],
	};
}

static int on_proc_event(void *ctx, void *data, size_t size)
{
	const struct kspan_tls_proc_event *e = data;
	struct tls_ctx *t = ctx;
	uint64_t now = mono_now();

	if (size < sizeof(*e))
		return 0;
	if (e->type == KSPAN_EV_TLS_EXEC) {
		/* A new program: what the old one mapped is gone. */
		proc_gone(t, e->pid, now);
		if (t->per_process)
			proc_adopt(t, e->pid);
		pend_add(t, e->pid, 0, now);
	} else if (e->type == KSPAN_EV_TLS_EXIT) {
		proc_gone(t, e->pid, now);
	} else if (e->type == KSPAN_EV_TLS_FORK && t->per_process) {
		/* It maps its parent's libraries already. */
		proc_adopt(t, e->pid);
		pend_add(t, e->pid, TLS_STEPS - 1, now);
	}
	return 0;
}

struct tls_ctx *tls_start(struct kspan_bpf *skel, struct ring_buffer *rb, bool per_process)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return NULL;
	t->skel = skel;
	t->self = getpid();
	t->filter = skel->rodata->targ_filter_pids;
	t->per_process = per_process && t->filter;
	err = ring_buffer__add(rb, bpf_map__fd(skel->maps.tls_procs), on_proc_event, t);
	if (err) {
		log_warn("tls: failed to read the exec ring: %s", strerror(-err));
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->reap.lock, NULL);
	pthread_cond_init(&t->reap.cond, NULL);
	err = pthread_create(&t->reap.thread, NULL, reaper_main, &t->reap);
	if (err)
		log_warn("tls: no thread to remove probes (%s): removing them stalls the "
			 "ring buffer's reader", strerror(err));
	t->reaper_on = !err;
	scan_all(t, mono_now());
	return t;
}

void tls_poll(struct tls_ctx *t, uint64_t now)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->npend;) {
		struct tls_pending p = t->pend[i];

		if (p.due > now) {
			i++;
			continue;
		}
		t->pend[i] = t->pend[--t->npend];
		if (proc_traced(t, p.pid)) {
			scan_pid(t, p.pid);
			pend_add(t, p.pid, p.step + 1, now);
		}
	}
	if (now - t->last_full >= TLS_RESCAN_NS)
		scan_all(t, now);
	for (int i = 0; i < TLS_LIBS_MAX; i++) {
		struct tls_lib *l = &t->libs[i];

		if (l->used && !l->users && l->unused_since &&
		    now - l->unused_since >= TLS_GRACE_NS)
			lib_detach(t, l);
	}
}

void tls_stop(struct tls_ctx *t)
{
	if (!t)
		return;
	for (int i = 0; i < TLS_LIBS_MAX; i++)
		if (t->libs[i].used)
			lib_detach(t, &t->libs[i]);
	if (t->reaper_on) {
		pthread_mutex_lock(&t->reap.lock);
		t->reap.stop = true;
		pthread_cond_signal(&t->reap.cond);
		pthread_mutex_unlock(&t->reap.lock);
		pthread_join(t->reap.thread, NULL);
	}
	free(t);
}

const struct tls_stats *tls_ctx_stats(const struct tls_ctx *t)
{
	return &t->st;
}

int tls_counters(const struct tls_ctx *t, uint64_t *out)
{
	return loader_percpu_sum(bpf_map__fd(t->skel->maps.tls_counters), KSPAN_TLS_CNT_MAX, out);
}

void tls_print_counters(const struct tls_ctx *t, FILE *f)
{
	uint64_t k[KSPAN_TLS_CNT_MAX] = {};

	if (!t)
		return;
	tls_counters(t, k);
	log_to(f, KLOG_INFO, "tls: libs=%llu probes=%llu attach_failed=%llu detached=%llu "
	       "plaintext_events=%llu cipher_skipped=%llu cipher_bytes=%llu no_sock=%llu "
	       "calls_full=%llu hellos=%llu handshakes=%llu go_not_tcp=%llu libs_full=%llu",
	       (unsigned long long)t->st.libs, (unsigned long long)t->st.probes,
	       (unsigned long long)t->st.attach_failed, (unsigned long long)t->st.detached,
	       (unsigned long long)k[KSPAN_TLS_CNT_EVENTS],
	       (unsigned long long)k[KSPAN_TLS_CNT_CIPHER],
	       (unsigned long long)k[KSPAN_TLS_CNT_CIPHER_BYTES],
	       (unsigned long long)k[KSPAN_TLS_CNT_NO_SOCK],
	       (unsigned long long)k[KSPAN_TLS_CNT_CALLS_FULL],
	       (unsigned long long)k[KSPAN_TLS_CNT_HELLOS],
	       (unsigned long long)k[KSPAN_TLS_CNT_HANDSHAKES],
	       (unsigned long long)k[KSPAN_TLS_CNT_GO_NOT_TCP],
	       (unsigned long long)t->st.libs_full);
}
