// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "select.h"

#define LISTEN_MAX 256	/* listening sockets on selected ports, at most */

struct listen_set {
	uint64_t inode[LISTEN_MAX];
	size_t n;
};

int select_add(struct selectors *s, const char *kind, const char *value)
{
	char *end;
	unsigned long v;

	if (!*value) {
		log_error("--%s needs a value", kind);
		return -1;
	}
	if (strcmp(kind, "exe") == 0 && s->nexe < SELECT_MAX) {
		s->exe[s->nexe++] = value;
	} else if (strcmp(kind, "port") == 0 && s->nport < SELECT_MAX) {
		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno || *end || !v || v > 65535) {
			log_error("invalid --port '%s': expected 1 to 65535", value);
			return -1;
		}
		s->port[s->nport++] = v;
	} else if (strcmp(kind, "cgroup") == 0 && s->ncgroup < SELECT_MAX) {
		if (value[0] != '/') {
			log_error("invalid --cgroup '%s': give the cgroup v2 path "
				  "from the hierarchy's root, e.g. /system.slice/nginx.service", value);
			return -1;
		}
		s->cgroup[s->ncgroup++] = value;
	} else if (strcmp(kind, "container-id") == 0 && s->ncid < SELECT_MAX) {
		if (strlen(value) < 12 || strspn(value, "0123456789abcdef") != strlen(value)) {
			log_error("invalid --container-id '%s': expected at least 12 "
				  "lowercase hex digits", value);
			return -1;
		}
		s->cid[s->ncid++] = value;
	} else {
		log_error("at most %d --%s selectors", SELECT_MAX, kind);
		return -1;
	}
	return 0;
}

bool select_any(const struct selectors *s)
{
	return s->nexe || s->nport || s->ncgroup || s->ncid;
}

static const char *root(const struct selectors *s)
{
	return s->proc ? s->proc : "/proc";
}

static bool match_exe(const struct selectors *s, uint32_t pid)
{
	char path[64], exe[4096];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/exe", root(s), pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	for (size_t i = 0; i < s->nexe; i++)
		if (!fnmatch(s->exe[i], exe, 0) || !fnmatch(s->exe[i], base, 0))
			return true;
	return false;
}

/* The cgroup v2 path of pid ("0::/path"), in buf. */
static bool cgroup_of(const struct selectors *s, uint32_t pid, char *buf, size_t len)
{
	char path[64], line[4096];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/cgroup", root(s), pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line + 3);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool match_cgroup(const struct selectors *s, uint32_t pid)
{
	char cg[4096];

	if (!cgroup_of(s, pid, cg, sizeof(cg)))
		return false;
	for (size_t i = 0; i < s->ncgroup; i++) {
		size_t n = strlen(s->cgroup[i]);

		while (n > 1 && s->cgroup[i][n - 1] == '/')
			n--;
		if (strncmp(cg, s->cgroup[i], n) == 0 && (cg[n] == '\0' || cg[n] == '/'))
			return true;
	}
	for (size_t i = 0; i < s->ncid; i++)
		if (strstr(cg, s->cid[i]))
			return true;
	return false;
}

struct port_collect {
	const struct selectors *s;
	struct listen_set *ls;
};

struct port_match {
	const struct listen_set *ls;
	bool found;
};

static void listening_selected(void *ctx, uint16_t port, uint64_t inode)
{
	struct port_collect *m = ctx;

	for (size_t i = 0; i < m->s->nport && m->ls->n < LISTEN_MAX; i++)
		if (m->s->port[i] == port)
			m->ls->inode[m->ls->n++] = inode;
}

/* Inodes of TCP sockets listening on a selected port, in the node's network
 * namespace (that of pid 1: kspan runs with the host's pid namespace). Pods
 * with a network namespace of their own are selected by cgroup or container
 * id instead. */
static void listening(const struct selectors *s, struct listen_set *ls)
{
	struct port_collect m = { .s = s, .ls = ls };
	char dir[PATH_MAX];

	ls->n = 0;
	snprintf(dir, sizeof(dir), "%s/1", root(s));
	proc_listening(dir, listening_selected, &m);
}

static bool holds_listener(void *ctx, uint64_t inode)
{
	struct port_match *m = ctx;

	for (size_t i = 0; i < m->ls->n; i++)
		if (m->ls->inode[i] == inode)
			m->found = true;
	return !m->found;
}

static bool match_port(const struct selectors *s, uint32_t pid, const struct listen_set *ls)
{
	struct port_match m = { .ls = ls };

	if (!ls->n)
		return false;
	proc_socket_fds(root(s), pid, SIZE_MAX, holds_listener, &m);
	return m.found;
}

static bool match(const struct selectors *s, uint32_t pid, const struct listen_set *ls)
{
	return (s->nexe && match_exe(s, pid)) ||
	       ((s->ncgroup || s->ncid) && match_cgroup(s, pid)) ||
	       (s->nport && match_port(s, pid, ls));
}

bool select_match_pid(const struct selectors *s, uint32_t pid)
{
	struct listen_set ls = { .n = 0 };

	if (s->nport)
		listening(s, &ls);
	return match(s, pid, &ls);
}

size_t select_scan(const struct selectors *s, uint32_t skip_pid,
		   void (*add)(void *ctx, uint32_t pid), void *ctx)
{
	struct listen_set ls = { .n = 0 };
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (!select_any(s))
		return 0;
	if (s->nport)
		listening(s, &ls);
	d = opendir(root(s));
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (!pid || *end || pid == skip_pid)
			continue;
		if (match(s, pid, &ls)) {
			add(ctx, pid);
			n++;
		}
	}
	closedir(d);
	return n;
}
