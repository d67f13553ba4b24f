/* SPDX-License-Identifier: Apache-2.0 */
/* Facts about traced processes, read once from /proc and cached (bounded). */
#ifndef __KSPAN_PROC_H
#define __KSPAN_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_info {
	uint32_t pid;
	char service_name[128];	/* as naming.h says: OTEL_SERVICE_NAME,
				 * naming rules, Kubernetes, exe name */
	char exe_name[64];
	char exe_path[256];
	char command_line[512];	/* argv joined by spaces, secrets redacted */
};

/* Facts for pid, read from /proc on first use and cached. The cache holds at
 * most PROC_CACHE_MAX entries and replaces the least recently used. Never
 * returns NULL: a vanished process gets "unknown" fields. The pointer stays
 * valid until the next proc_info_get() call for another pid. */
#define PROC_CACHE_MAX 1024
const struct proc_info *proc_info_get(uint32_t pid);
/* As proc_info_get(), for a process seen in an event with this comm: when
 * /proc no longer has it (a short-lived client), the comm names it. */
const struct proc_info *proc_info_seen(uint32_t pid, const char *comm, size_t comm_len);
/* Forget pid (process exited). */
void proc_info_forget(uint32_t pid);
const char *proc_host_name(void);
/* Up to size bytes of a file (a /proc or /sys one: read to its end); -1 if
 * it cannot be opened. */
ssize_t proc_read_file(const char *path, char *buf, size_t size);
/* Calls fn for each listening TCP socket in dir/net/tcp and dir/net/tcp6
 * (dir: "/proc/1" for the node's network namespace, "/proc/PID" for a
 * process's own). */
void proc_listening(const char *dir, void (*fn)(void *ctx, uint16_t port, uint64_t inode),
		    void *ctx);
/* Calls fn with the inode of each socket among the first max_fds fds of
 * root/PID/fd, until fn returns false. */
void proc_socket_fds(const char *root, uint32_t pid, size_t max_fds,
		     bool (*fn)(void *ctx, uint64_t inode), void *ctx);

#endif /* __KSPAN_PROC_H */
