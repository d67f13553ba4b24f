/* SPDX-License-Identifier: Apache-2.0 */
/* Which processes to trace, besides --pid: by executable, listening port,
 * cgroup or container id. Matching reads /proc only. */
#ifndef __KSPAN_SELECT_H
#define __KSPAN_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SELECT_MAX 16

struct selectors {
	const char *exe[SELECT_MAX];	/* globs on the executable path or name */
	size_t nexe;
	uint16_t port[SELECT_MAX];	/* processes listening on these TCP ports
					 * in the node's network namespace */
	size_t nport;
	const char *cgroup[SELECT_MAX];	/* cgroup v2 paths, e.g. /kubepods/pod<uid> */
	size_t ncgroup;
	const char *cid[SELECT_MAX];	/* container ids (or unique prefixes) */
	size_t ncid;
	const char *proc;		/* "/proc"; another root in tests */
};

/* Add a selector "kind" (exe, port, cgroup, container-id) with its value.
 * Returns 0, or -1 after printing what is wrong. */
int select_add(struct selectors *s, const char *kind, const char *value);
bool select_any(const struct selectors *s);
/* Call add() for every process that matches a selector, except skip_pid.
 * Returns how many matched. */
size_t select_scan(const struct selectors *s, uint32_t skip_pid,
		   void (*add)(void *ctx, uint32_t pid), void *ctx);
/* Whether one process matches (listening ports are looked up afresh). */
bool select_match_pid(const struct selectors *s, uint32_t pid);

#endif /* __KSPAN_SELECT_H */
