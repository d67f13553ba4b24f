// SPDX-License-Identifier: Apache-2.0
/* The OTLP resource of a traced process: what proc.c knows of it, its
 * container and Kubernetes pod as the process itself carries them (cgroup,
 * environment, service-account files under its root), and kspan's own
 * OTEL_RESOURCE_ATTRIBUTES. Made once per process on the caller's thread and
 * shared read-only with the export thread. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp_internal.h"
#include "proc.h"
#include "strutil.h"

#ifndef KSPAN_VERSION
#define KSPAN_VERSION "0.0.0-dev"
#endif

#define OTLP_RES_MAX	96
#define OTLP_ENV_MAX	65536

static bool otlp_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool otlp_cgroup_container_id(const char *buf, size_t len, char out[65])
{
	bool found = false;
	size_t i = 0;

	/* The last run of exactly 64 lowercase hex digits: docker-<id>.scope,
	 * cri-containerd-<id>.scope, crio-<id>.scope, /docker/<id>, ... */
	while (i < len) {
		size_t start = i;

		while (i < len && otlp_is_hex(buf[i]))
			i++;
		if (i - start == 64) {
			memcpy(out, buf + start, 64);
			out[64] = '\0';
			found = true;
		}
		if (i == start)
			i++;
	}
	return found;
}

bool otlp_cgroup_pod_uid(const char *buf, size_t len, char out[37])
{
	bool found = false;

	/* kubepods/besteffort/pod<uid>/ (cgroupfs) or
	 * kubepods-besteffort-pod<uid with _>.slice (systemd). */
	for (size_t i = 0; i + 3 + 36 <= len; i++) {
		const char *u = buf + i + 3;
		bool ok = true;

		if (memcmp(buf + i, "pod", 3))
			continue;
		for (int k = 0; k < 36 && ok; k++) {
			if (k == 8 || k == 13 || k == 18 || k == 23)
				ok = u[k] == '-' || u[k] == '_';
			else
				ok = otlp_is_hex(u[k]);
		}
		if (!ok || (i + 39 < len && otlp_is_hex(buf[i + 39])))
			continue;
		for (int k = 0; k < 36; k++)
			out[k] = u[k] == '_' ? '-' : u[k];
		out[36] = '\0';
		found = true;
	}
	return found;
}

struct otlp_res_builder {
	const char *key[OTLP_RES_MAX];
	char *val[OTLP_RES_MAX];	/* malloc'd; NULL for the int pid */
	int64_t ival[OTLP_RES_MAX];
	size_t n;
};

static bool rb_has(const struct otlp_res_builder *b, const char *key, size_t klen)
{
	for (size_t i = 0; i < b->n; i++)
		if (strlen(b->key[i]) == klen && memcmp(b->key[i], key, klen) == 0)
			return true;
	return false;
}

/* Add key=val unless key is there already; key is copied. */
static void rb_add(struct otlp_res_builder *b, const char *key, size_t klen,
		   const char *val, size_t vlen)
{
	char *k, *v;

	if (b->n >= OTLP_RES_MAX || !klen || rb_has(b, key, klen))
		return;
	k = malloc(klen + 1);
	v = malloc(3 * vlen + 1);
	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	otlp_utf8_copy(k, klen + 1, key, klen);
	otlp_utf8_copy(v, 3 * vlen + 1, val, vlen);
	b->key[b->n] = k;
	b->val[b->n++] = v;
}

static void rb_adds(struct otlp_res_builder *b, const char *key, const char *val)
{
	if (val && *val)
		rb_add(b, key, strlen(key), val, strlen(val));
}

static void rb_add_int(struct otlp_res_builder *b, const char *key, int64_t v)
{
	char *k;

	if (b->n >= OTLP_RES_MAX || rb_has(b, key, strlen(key)))
		return;
	k = strdup(key);
	if (!k)
		return;
	b->key[b->n] = k;
	b->val[b->n] = NULL;
	b->ival[b->n++] = v;
}

static int rb_kv_add(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct otlp_res_builder *b = ctx;
	char dec[OTLP_RES_VALUE_MAX];
	size_t n = 0;

	for (size_t i = 0; i < vlen && n < sizeof(dec) - 1; i++) {
		char c = v[i];

		if (c == '%' && i + 2 < vlen) {
			char h[3] = { v[i + 1], v[i + 2], 0 };
			char *end;
			long x = strtol(h, &end, 16);

			if (*end)
				return -1;
			c = (char)x;
			i += 2;
		}
		dec[n++] = c;
	}
	rb_add(b, k, klen, dec, n);
	return 0;
}

static void rb_env(struct otlp_res_builder *b, const char *key, const char *env,
		   size_t envlen, const char *const *names)
{
	for (; *names; names++) {
		size_t vlen;
		const char *v = str_environ_get(env, envlen, *names, &vlen);

		if (v) {
			rb_add(b, key, strlen(key), v, vlen);
			return;
		}
	}
}

static struct otlp_resource *rb_finish(struct otlp_res_builder *b, uint32_t pid,
				       const struct proc_info *pi)
{
	struct otlp_resource *r;
	size_t size = sizeof(*r), off;
	char *blk;

	/* One block: the resource, its KeyValue and AnyValue arrays, strings. */
	size += b->n * (sizeof(OtlpKeyValue *) + sizeof(OtlpKeyValue) + sizeof(OtlpAnyValue));
	for (size_t i = 0; i < b->n; i++)
		size += strlen(b->key[i]) + 1 + (b->val[i] ? strlen(b->val[i]) + 1 : 0);
	r = calloc(1, size);
	if (!r)
		goto out;
	blk = (char *)(r + 1);
	r->refs = 1;
	r->pid = pid;
	if (pi) {
		snprintf(r->key_service, sizeof(r->key_service), "%s", pi->service_name);
		snprintf(r->key_exe, sizeof(r->key_exe), "%s", pi->exe_path);
		snprintf(r->key_cmd, sizeof(r->key_cmd), "%s", pi->command_line);
	}
	opentelemetry__proto__resource__v1__resource__init(&r->pb);
	r->pb.attributes = (OtlpKeyValue **)blk;
	r->pb.n_attributes = b->n;
	r->nattrs = b->n;
	off = b->n * sizeof(OtlpKeyValue *);
	for (size_t i = 0; i < b->n; i++) {
		OtlpKeyValue *kv = (OtlpKeyValue *)(blk + off + i * sizeof(OtlpKeyValue));
		OtlpAnyValue *av = (OtlpAnyValue *)(blk + off + b->n * sizeof(OtlpKeyValue) +
						    i * sizeof(OtlpAnyValue));

		opentelemetry__proto__common__v1__key_value__init(kv);
		opentelemetry__proto__common__v1__any_value__init(av);
		kv->value = av;
		r->pb.attributes[i] = kv;
	}
	off += b->n * (sizeof(OtlpKeyValue) + sizeof(OtlpAnyValue));
	for (size_t i = 0; i < b->n; i++) {
		OtlpKeyValue *kv = r->pb.attributes[i];
		size_t n = strlen(b->key[i]) + 1;

		kv->key = memcpy(blk + off, b->key[i], n);
		off += n;
		if (b->val[i]) {
			n = strlen(b->val[i]) + 1;
			kv->value->value_case =
				OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			kv->value->string_value = memcpy(blk + off, b->val[i], n);
			off += n;
		} else {
			kv->value->value_case =
				OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
			kv->value->int_value = b->ival[i];
		}
	}
out:
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->key[i]);
		free(b->val[i]);
	}
	b->n = 0;
	return r;
}

static void rb_common(struct otlp_res_builder *b, uint32_t pid, const struct proc_info *pi,
		      const char *host)
{
	rb_adds(b, "service.name", pi->service_name);
	rb_add_int(b, "process.pid", pid);
	rb_adds(b, "process.executable.name", pi->exe_name);
	if (strcmp(pi->exe_path, "unknown"))
		rb_adds(b, "process.executable.path", pi->exe_path);
	if (strcmp(pi->command_line, "unknown"))
		rb_adds(b, "process.command_line", pi->command_line);
	rb_adds(b, "host.name", host);
	rb_adds(b, "os.type", "linux");
}

static void rb_tail(struct otlp_res_builder *b, const struct otlp_kv *extra, size_t nextra)
{
	rb_adds(b, "telemetry.distro.name", "kspan");
	rb_adds(b, "telemetry.distro.version", KSPAN_VERSION);
	for (size_t i = 0; i < nextra; i++)
		rb_adds(b, extra[i].key, extra[i].value);
}

struct otlp_resource *otlp_resource_new(const char *proc_root, uint32_t pid,
					const struct proc_info *pi, const char *host,
					const struct otlp_kv *extra, size_t nextra)
{
	static const char *const pod_name[] = {
		"K8S_POD_NAME", "POD_NAME", "KUBERNETES_POD_NAME", NULL };
	static const char *const pod_ns[] = {
		"K8S_NAMESPACE_NAME", "K8S_POD_NAMESPACE", "POD_NAMESPACE", NULL };
	static const char *const pod_uid[] = { "K8S_POD_UID", "POD_UID", NULL };
	static const char *const hostname[] = { "HOSTNAME", NULL };
	struct otlp_res_builder *b = calloc(1, sizeof(*b));
	char path[384], cg[8192], ns[256], id[65], uid[37];
	struct otlp_resource *r;
	char *env = malloc(OTLP_ENV_MAX);
	ssize_t cglen, envlen = -1, nslen;
	bool in_pod;
	size_t vlen;
	const char *v;

	if (!b || !env) {
		free(b);
		free(env);
		return NULL;
	}
	rb_common(b, pid, pi, host);

	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, pid);
	cglen = proc_read_file(path, cg, sizeof(cg));
	if (cglen > 0 && otlp_cgroup_container_id(cg, cglen, id))
		rb_adds(b, "container.id", id);

	snprintf(path, sizeof(path), "%s/%u/environ", proc_root, pid);
	envlen = proc_read_file(path, env, OTLP_ENV_MAX);
	if (envlen < 0)
		envlen = 0;
	/* The process's own OTEL_RESOURCE_ATTRIBUTES (k8s attributes set by an
	 * operator, deployment.environment, ...), under what kspan saw. */
	v = str_environ_get(env, envlen, "OTEL_RESOURCE_ATTRIBUTES", &vlen);
	if (v)
		otlp_parse_kv_list(v, vlen, rb_kv_add, b);

	snprintf(path, sizeof(path),
		 "%s/%u/root/var/run/secrets/kubernetes.io/serviceaccount/namespace",
		 proc_root, pid);
	nslen = proc_read_file(path, ns, sizeof(ns) - 1);
	while (nslen > 0 && (ns[nslen - 1] == '\n' || ns[nslen - 1] == ' '))
		nslen--;
	in_pod = nslen > 0 || (cglen > 0 && otlp_cgroup_pod_uid(cg, cglen, uid)) ||
		 str_environ_get(env, envlen, "KUBERNETES_SERVICE_HOST", &vlen);
	if (in_pod) {
		rb_env(b, "k8s.pod.name", env, envlen, pod_name);
		/* A pod's hostname is its name unless the spec sets another. */
		rb_env(b, "k8s.pod.name", env, envlen, hostname);
		rb_env(b, "k8s.namespace.name", env, envlen, pod_ns);
		if (nslen > 0)
			rb_add(b, "k8s.namespace.name", 18, ns, nslen);
		rb_env(b, "k8s.pod.uid", env, envlen, pod_uid);
		if (cglen > 0 && otlp_cgroup_pod_uid(cg, cglen, uid))
			rb_adds(b, "k8s.pod.uid", uid);
	}
	rb_tail(b, extra, nextra);
	r = rb_finish(b, pid, pi);
	free(env);
	free(b);
	return r;
}

struct otlp_resource *otlp_resource_self(const struct proc_info *pi, const char *host,
					 const struct otlp_kv *extra, size_t nextra)
{
	struct otlp_res_builder *b = calloc(1, sizeof(*b));
	struct otlp_resource *r;

	if (!b)
		return NULL;
	rb_adds(b, "service.name", "kspan");
	rb_common(b, pi->pid, pi, host);
	rb_tail(b, extra, nextra);
	r = rb_finish(b, pi->pid, pi);
	free(b);
	return r;
}

void otlp_resource_get(struct otlp_resource *r)
{
	if (r)
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

void otlp_resource_put(struct otlp_resource *r)
{
	if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(r);
}

const char *otlp_resource_attr(const struct otlp_resource *r, const char *key)
{
	for (size_t i = 0; r && i < r->nattrs; i++) {
		const OtlpKeyValue *kv = r->pb.attributes[i];

		if (strcmp(kv->key, key) == 0 && kv->value->value_case ==
		    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			return kv->value->string_value;
	}
	return NULL;
}
