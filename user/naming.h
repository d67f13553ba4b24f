/* SPDX-License-Identifier: Apache-2.0 */
/* service.name of a traced process. In order, the first that gives a name:
 *   0. a naming rule marked override (config file, service-names.rules)
 *   1. OTEL_SERVICE_NAME in the process's environment
 *   2. service.name in its OTEL_RESOURCE_ATTRIBUTES
 *   3. a naming rule (executable glob, cgroup path glob, container id prefix,
 *      listening TCP port; every matcher given must match)
 *   4. Kubernetes, for a process in a pod: the app.kubernetes.io/name label
 *      where the pod spec exposes it to the process (configured environment
 *      variables or downward API files), else its container name
 *      (k8s.container.name in its OTEL_RESOURCE_ATTRIBUTES, else the
 *      kubelet's log directory names: containers/<pod>_<ns>_<container>-<id>.log
 *      for its container id, else pods/<ns>_<pod>_<uid>/<container>/ when the
 *      pod has a single container directory)
 *   5. its executable's name
 * Everything is read from /proc and the kubelet's log directory, once per
 * process (proc.c caches the result). */
#ifndef __KSPAN_NAMING_H
#define __KSPAN_NAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NAMING_RULES_MAX	64	/* rules in service-names.rules */
#define NAMING_VALUES_MAX	8	/* values of one matcher of a rule */
#define NAMING_NAME_MAX		128	/* bytes of a service name, with NUL */
#define NAMING_SOURCES_MAX	4	/* label-env and label-files entries */
#define NAMING_PATH_MAX		256	/* log-dir, label file paths */

struct naming_rule {
	char *name;
	unsigned line;			/* in the config file */
	bool override;			/* wins over the process's own name */
	char *exe[NAMING_VALUES_MAX];	/* globs on the executable path or name */
	size_t nexe;
	char *cgroup[NAMING_VALUES_MAX];	/* globs on the cgroup v2 path */
	size_t ncgroup;
	char *cid[NAMING_VALUES_MAX];	/* container id prefixes (12+ hex) */
	size_t ncid;
	uint16_t port[NAMING_VALUES_MAX];	/* TCP ports it listens on, in
						 * its own network namespace */
	size_t nport;
};

struct naming_config {
	struct naming_rule *rules;	/* malloc'd, nrules entries */
	size_t nrules;
	bool kubernetes;		/* step 4 (default on) */
	char *label_env[NAMING_SOURCES_MAX];	/* env vars carrying the
						 * app.kubernetes.io/name label */
	size_t nlabel_env;
	char *label_files[NAMING_SOURCES_MAX];	/* downward API label files,
						 * paths inside the process's root */
	size_t nlabel_files;
	char log_dir[NAMING_PATH_MAX];	/* the kubelet's logs: pods/ and
					 * containers/ (default /var/log) */
};

enum naming_source {
	NAMING_SRC_OVERRIDE = 0,
	NAMING_SRC_OTEL,		/* OTEL_SERVICE_NAME or service.name */
	NAMING_SRC_RULE,
	NAMING_SRC_K8S_LABEL,
	NAMING_SRC_K8S_CONTAINER,
	NAMING_SRC_EXE,
};

/* What proc.c already read of one process. */
struct naming_proc {
	uint32_t pid;
	const char *proc_root;		/* "/proc"; another root in tests */
	const char *env;		/* NUL-separated environ, not NUL ended */
	size_t envlen;
	const char *exe_path;		/* "" if unknown */
	const char *exe_name;
};

/* Defaults: no rules, Kubernetes on, log_dir /var/log. */
void naming_config_init(struct naming_config *nc);
void naming_config_free(struct naming_config *nc);
/* The configuration proc.c uses from now on (NULL: the defaults). Not
 * copied: it must stay valid while processes are named. */
void naming_set(const struct naming_config *nc);
const struct naming_config *naming_get(void);
/* With a stream, each naming is reported there ("pid N: service.name 'x'
 * from ..."), for -v. NULL: quiet (the default). */
void naming_set_log(FILE *log);

/* The service name of p into out (always NUL ended, non-empty if the
 * process has an executable name); returns where it came from. */
enum naming_source naming_service_name(const struct naming_config *nc,
				       const struct naming_proc *p, char *out, size_t outsz);
const char *naming_source_name(enum naming_source s);

/* Exposed for unit tests. The container name for a container id or a pod
 * uid from the kubelet's log directory; false if not found or ambiguous. */
bool naming_k8s_container(const char *log_dir, const char *cid, const char *pod_uid,
			  char *out, size_t outsz);
/* app.kubernetes.io/name from the text of a downward API labels file
 * (lines of key="value"). */
bool naming_label_from_file(const char *buf, size_t len, char *out, size_t outsz);

#endif /* __KSPAN_NAMING_H */
