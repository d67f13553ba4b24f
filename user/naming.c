// SPDX-License-Identifier: Apache-2.0
/* service.name of a traced process: see naming.h for the order. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "naming.h"
#include "otlp.h"
#include "otlp_internal.h"
#include "proc.h"
#include "proc_internal.h"
#include "strutil.h"

#define NAMING_CGROUP_MAX	8192	/* bytes of /proc/PID/cgroup read */
#define NAMING_LABELS_MAX	16384	/* bytes of a labels file read */
#define NAMING_LISTEN_MAX	256	/* listening sockets looked at */
#define NAMING_PORTS_MAX	32	/* ports of one process kept */
#define NAMING_FDS_MAX		16384	/* fds of one process looked at */
#define NAMING_DIR_MAX		16384	/* entries of a log directory read */

static const struct naming_config *naming_cur;
static FILE *naming_log;

void naming_set_log(FILE *log)
{
	naming_log = log;
}

void naming_config_init(struct naming_config *nc)
{
	memset(nc, 0, sizeof(*nc));
	nc->kubernetes = true;
	strcpy(nc->log_dir, "/var/log");
}

void naming_config_free(struct naming_config *nc)
{
	for (size_t i = 0; i < nc->nrules; i++) {
		struct naming_rule *r = &nc->rules[i];

		free(r->name);
		for (size_t k = 0; k < r->nexe; k++)
			free(r->exe[k]);
		for (size_t k = 0; k < r->ncgroup; k++)
			free(r->cgroup[k]);
		for (size_t k = 0; k < r->ncid; k++)
			free(r->cid[k]);
	}
	free(nc->rules);
	for (size_t i = 0; i < nc->nlabel_env; i++)
		free(nc->label_env[i]);
	for (size_t i = 0; i < nc->nlabel_files; i++)
		free(nc->label_files[i]);
	naming_config_init(nc);
}

void naming_set(const struct naming_config *nc)
{
	naming_cur = nc;
}

const struct naming_config *naming_get(void)
{
	static struct naming_config defaults;
	static bool init;

	if (naming_cur)
		return naming_cur;
	if (!init) {
		naming_config_init(&defaults);
		init = true;
	}
	return &defaults;
}

const char *naming_source_name(enum naming_source s)
{
	switch (s) {
	case NAMING_SRC_OVERRIDE:
		return "override rule";
	case NAMING_SRC_OTEL:
		return "OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES";
	case NAMING_SRC_RULE:
		return "rule";
	case NAMING_SRC_K8S_LABEL:
		return "app.kubernetes.io/name label";
	case NAMING_SRC_K8S_CONTAINER:
		return "Kubernetes container name";
	default:
		return "executable";
	}
}

/* What is known of the process, read when a rule or step needs it. */
struct naming_facts {
	const struct naming_proc *p;
	bool cg_read;
	char cg[NAMING_CGROUP_MAX];	/* /proc/PID/cgroup */
	size_t cglen;
	const char *cgpath;		/* the v2 path ("0::<path>"), NUL ended */
	bool has_cid, has_uid;
	char cid[65];
	char uid[37];
	bool ports_read;
	uint16_t ports[NAMING_PORTS_MAX];
	size_t nports;
};

static void facts_cgroup(struct naming_facts *f)
{
	char path[128];
	ssize_t n;

	if (f->cg_read)
		return;
	f->cg_read = true;
	snprintf(path, sizeof(path), "%s/%u/cgroup", f->p->proc_root, f->p->pid);
	n = proc_read_file(path, f->cg, sizeof(f->cg) - 1);
	if (n <= 0)
		return;
	f->cglen = n;
	f->cg[n] = '\0';
	f->has_cid = otlp_cgroup_container_id(f->cg, f->cglen, f->cid);
	f->has_uid = otlp_cgroup_pod_uid(f->cg, f->cglen, f->uid);
	for (char *line = f->cg; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			f->cgpath = line + 3;
			/* The rest is not looked at again: only the path. */
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
}

struct naming_ports {
	struct naming_facts *f;
	struct {
		uint16_t port;
		uint64_t inode;
	} ls[NAMING_LISTEN_MAX];
	size_t nls;
};

static void ports_listening(void *ctx, uint16_t port, uint64_t inode)
{
	struct naming_ports *np = ctx;

	if (np->nls < NAMING_LISTEN_MAX) {
		np->ls[np->nls].port = port;
		np->ls[np->nls++].inode = inode;
	}
}

static bool ports_held(void *ctx, uint64_t inode)
{
	struct naming_ports *np = ctx;
	struct naming_facts *f = np->f;

	for (size_t i = 0; i < np->nls; i++) {
		bool dup = false;

		if (np->ls[i].inode != inode)
			continue;
		for (size_t k = 0; k < f->nports; k++)
			dup = dup || f->ports[k] == np->ls[i].port;
		if (!dup && f->nports < NAMING_PORTS_MAX)
			f->ports[f->nports++] = np->ls[i].port;
	}
	return f->nports < NAMING_PORTS_MAX;
}

/* Listening TCP sockets of the process's network namespace (the one its
 * /proc/PID/net shows), then those among them the process holds an fd of. */
static void facts_ports(struct naming_facts *f)
{
	struct naming_ports np = { .f = f };
	char dir[PATH_MAX];

	if (f->ports_read)
		return;
	f->ports_read = true;
	snprintf(dir, sizeof(dir), "%s/%u", f->p->proc_root, f->p->pid);
	proc_listening(dir, ports_listening, &np);
	if (np.nls)
		proc_socket_fds(f->p->proc_root, f->p->pid, NAMING_FDS_MAX, ports_held, &np);
}

static bool rule_match(const struct naming_rule *r, struct naming_facts *f)
{
	bool ok;

	if (r->nexe) {
		const char *path = f->p->exe_path ? f->p->exe_path : "";
		const char *base = strrchr(path, '/');

		base = base ? base + 1 : path;
		ok = false;
		for (size_t i = 0; i < r->nexe && !ok; i++)
			ok = (*path && !fnmatch(r->exe[i], path, 0)) ||
			     (*base && !fnmatch(r->exe[i], base, 0)) ||
			     (f->p->exe_name && *f->p->exe_name &&
			      !fnmatch(r->exe[i], f->p->exe_name, 0));
		if (!ok)
			return false;
	}
	if (r->ncgroup) {
		facts_cgroup(f);
		ok = false;
		for (size_t i = 0; i < r->ncgroup && !ok && f->cgpath; i++)
			ok = !fnmatch(r->cgroup[i], f->cgpath, 0);
		if (!ok)
			return false;
	}
	if (r->ncid) {
		facts_cgroup(f);
		ok = false;
		for (size_t i = 0; i < r->ncid && !ok && f->has_cid; i++)
			ok = strncmp(f->cid, r->cid[i], strlen(r->cid[i])) == 0;
		if (!ok)
			return false;
	}
	if (r->nport) {
		facts_ports(f);
		ok = false;
		for (size_t i = 0; i < r->nport && !ok; i++)
			for (size_t k = 0; k < f->nports && !ok; k++)
				ok = r->port[i] == f->ports[k];
		if (!ok)
			return false;
	}
	return true;
}

static const struct naming_rule *rules_first(const struct naming_config *nc,
					     struct naming_facts *f, bool override)
{
	for (size_t i = 0; i < nc->nrules; i++)
		if (nc->rules[i].override == override && rule_match(&nc->rules[i], f))
			return &nc->rules[i];
	return NULL;
}

/* Unquote the value of a downward API labels line: "..." with Go's
 * backslash escapes; only \" \\ \n \t are kept, others refuse the line. */
static bool naming_unquote(const char *s, size_t len, char *out, size_t outsz)
{
	size_t n = 0;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"' || !outsz)
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		char c = s[i];

		if (c == '\\') {
			if (i + 2 >= len)
				return false;
			c = s[++i];
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != '"' && c != '\\')
				return false;
		}
		if (n + 1 >= outsz)
			break;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0;
}

bool naming_label_from_file(const char *buf, size_t len, char *out, size_t outsz)
{
	static const char key[] = "app.kubernetes.io/name=";
	size_t i = 0;

	while (i < len) {
		const char *line = buf + i;
		size_t n;

		while (i < len && buf[i] != '\n')
			i++;
		n = buf + i - line;
		i++;
		if (n > sizeof(key) - 1 && memcmp(line, key, sizeof(key) - 1) == 0)
			return naming_unquote(line + sizeof(key) - 1, n - (sizeof(key) - 1),
					      out, outsz);
	}
	return false;
}

static bool naming_k8s_label(const struct naming_config *nc, const struct naming_facts *f,
			     char *out, size_t outsz)
{
	for (size_t i = 0; i < nc->nlabel_env; i++) {
		size_t vlen;
		const char *v = str_environ_get(f->p->env, f->p->envlen, nc->label_env[i], &vlen);

		if (v && vlen) {
			str_copy(out, outsz, v, vlen);
			return true;
		}
	}
	for (size_t i = 0; i < nc->nlabel_files; i++) {
		char path[NAMING_PATH_MAX + 64], *buf;
		ssize_t n;
		bool ok;

		snprintf(path, sizeof(path), "%s/%u/root%s", f->p->proc_root, f->p->pid,
			 nc->label_files[i]);
		buf = malloc(NAMING_LABELS_MAX);
		if (!buf)
			return false;
		n = proc_read_file(path, buf, NAMING_LABELS_MAX);
		ok = n > 0 && naming_label_from_file(buf, n, out, outsz);
		free(buf);
		if (ok)
			return true;
	}
	return false;
}

/* The container name between "<pod>_<ns>_" and "-<cid>.log". */
static bool naming_symlink_name(const char *name, const char *cid, char *out, size_t outsz)
{
	size_t len = strlen(name), clen = strlen(cid);
	const char *u1, *u2, *end;

	if (len < clen + 6 || strcmp(name + len - 4, ".log") ||
	    memcmp(name + len - 4 - clen, cid, clen) || name[len - 5 - clen] != '-')
		return false;
	end = name + len - 5 - clen;
	u1 = memchr(name, '_', end - name);
	u2 = u1 ? memchr(u1 + 1, '_', end - u1 - 1) : NULL;
	if (!u1 || !u2 || u1 == name || u2 == u1 + 1 || end == u2 + 1)
		return false;
	str_copy(out, outsz, u2 + 1, end - u2 - 1);
	return true;
}

bool naming_k8s_container(const char *log_dir, const char *cid, const char *pod_uid,
			  char *out, size_t outsz)
{
	char path[NAMING_PATH_MAX + 320];
	struct dirent *de;
	size_t seen = 0;
	DIR *d;

	if (cid && *cid) {
		snprintf(path, sizeof(path), "%s/containers", log_dir);
		d = opendir(path);
		while (d && (de = readdir(d)) && seen++ < NAMING_DIR_MAX) {
			if (naming_symlink_name(de->d_name, cid, out, outsz)) {
				closedir(d);
				return true;
			}
		}
		if (d)
			closedir(d);
	}
	if (pod_uid && *pod_uid) {
		char found[NAME_MAX + 1] = "", pod[NAME_MAX + 1] = "";
		size_t ulen = strlen(pod_uid), n = 0;

		snprintf(path, sizeof(path), "%s/pods", log_dir);
		d = opendir(path);
		seen = 0;
		while (d && (de = readdir(d)) && seen++ < NAMING_DIR_MAX) {
			size_t len = strlen(de->d_name);

			if (len > ulen + 1 && de->d_name[len - ulen - 1] == '_' &&
			    strcmp(de->d_name + len - ulen, pod_uid) == 0) {
				snprintf(pod, sizeof(pod), "%s", de->d_name);
				break;
			}
		}
		if (d)
			closedir(d);
		if (!pod[0])
			return false;
		snprintf(path, sizeof(path), "%s/pods/%s", log_dir, pod);
		d = opendir(path);
		seen = 0;
		while (d && (de = readdir(d)) && seen++ < NAMING_DIR_MAX) {
			if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
				continue;
			/* Init containers have directories too: more than one
			 * is ambiguous, and nothing is guessed. */
			if (++n > 1)
				break;
			snprintf(found, sizeof(found), "%s", de->d_name);
		}
		if (d)
			closedir(d);
		if (n == 1) {
			str_copy(out, outsz, found, strlen(found));
			return true;
		}
	}
	return false;
}

struct naming_attr {
	const char *key;
	char *out;
	size_t outsz;
	bool found;
};

static int naming_attr_add(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct naming_attr *a = ctx;
	size_t n = 0;

	if (klen != strlen(a->key) || memcmp(k, a->key, klen) || !vlen)
		return 0;
	for (size_t i = 0; i < vlen && n + 1 < a->outsz; i++) {
		char c = v[i];

		if (c == '%' && i + 2 < vlen && str_hexval(v[i + 1]) >= 0 &&
		    str_hexval(v[i + 2]) >= 0) {
			c = (char)(str_hexval(v[i + 1]) << 4 | str_hexval(v[i + 2]));
			i += 2;
		}
		if (c)
			a->out[n++] = c;
	}
	a->out[n] = '\0';
	a->found = n > 0;
	return 0;
}

static bool naming_k8s(const struct naming_config *nc, struct naming_facts *f, char *out,
		       size_t outsz, enum naming_source *src)
{
	struct naming_attr a = { .key = "k8s.container.name", .out = out, .outsz = outsz };
	const char *v;
	size_t vlen;

	facts_cgroup(f);
	if (!f->has_uid && !str_environ_get(f->p->env, f->p->envlen, "KUBERNETES_SERVICE_HOST", &vlen))
		return false;	/* not in a pod */
	if (naming_k8s_label(nc, f, out, outsz)) {
		*src = NAMING_SRC_K8S_LABEL;
		return true;
	}
	*src = NAMING_SRC_K8S_CONTAINER;
	v = str_environ_get(f->p->env, f->p->envlen, "OTEL_RESOURCE_ATTRIBUTES", &vlen);
	if (v) {
		otlp_parse_kv_list(v, vlen, naming_attr_add, &a);
		if (a.found)
			return true;
	}
	return naming_k8s_container(nc->log_dir, f->has_cid ? f->cid : NULL,
				    f->has_uid ? f->uid : NULL, out, outsz);
}

enum naming_source naming_service_name(const struct naming_config *nc,
				       const struct naming_proc *p, char *out, size_t outsz)
{
	struct naming_facts *f = calloc(1, sizeof(*f));
	const struct naming_rule *r = NULL;
	enum naming_source src;

	if (!nc)
		nc = naming_get();
	if (f)
		f->p = p;
	if (f && (r = rules_first(nc, f, true))) {
		src = NAMING_SRC_OVERRIDE;
	} else if (p->env && p->envlen &&
		   proc_service_from_environ(out, outsz, p->env, p->envlen) && out[0]) {
		src = NAMING_SRC_OTEL;
	} else if (f && (r = rules_first(nc, f, false))) {
		src = NAMING_SRC_RULE;
	} else if (!(f && nc->kubernetes && naming_k8s(nc, f, out, outsz, &src) && out[0])) {
		src = NAMING_SRC_EXE;
		str_copy(out, outsz, p->exe_name ? p->exe_name : "",
			 p->exe_name ? strlen(p->exe_name) : 0);
	}
	if (r)
		str_copy(out, outsz, r->name, strlen(r->name));
	if (naming_log && r)
		log_to(naming_log, KLOG_DEBUG, "pid %u: service.name '%s' from the %s on line %u",
		       p->pid, out, naming_source_name(src), r->line);
	else if (naming_log)
		log_to(naming_log, KLOG_DEBUG, "pid %u: service.name '%s' from its %s", p->pid, out,
		       naming_source_name(src));
	free(f);
	return src;
}
