/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Whether an entry of the `socks` table (keyed by struct sock address)
 * belongs to the socket now at that address. Plain C with no BPF helper, so
 * that the unit tests check the same rule the BPF programs run. */
#ifndef __KSPAN_SOCK_ENTRY_H
#define __KSPAN_SOCK_ENTRY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

/* Set in ids kspan makes up for sockets that have no cookie (connections
 * older than kspan, seen through a path that cannot generate one). */
#define KSPAN_COOKIE_SYNTHETIC	(1ULL << 63)

/* The kernel hands a freed TCP socket's memory to the next socket at once,
 * and an entry can outlive its socket: the socket hooks see calls made after
 * TCP_CLOSE removed it (a write during which the peer's reset arrived, a
 * read that fails with ECONNRESET) and add it again. A stale entry would give
 * the next socket at that address the old connection's id and endpoints.
 *
 * stored: the entry's cookie. cur: the socket's cookie, 0 when it has none.
 * fresh: the socket was just connected or accepted. */
static inline bool kspan_sock_entry_stale(__u64 stored, __u64 cur, bool fresh)
{
	if (stored == cur)
		return false;
	/* A made-up id stands for a socket that had no cookie. One generated
	 * since (sock_diag does so for every socket it lists) does not make
	 * it another socket: only a new connection replaces the entry. */
	if (stored & KSPAN_COOKIE_SYNTHETIC)
		return fresh;
	/* A socket's cookie never changes once set: another cookie, or none,
	 * is another socket. */
	return true;
}

#endif /* __KSPAN_SOCK_ENTRY_H */
