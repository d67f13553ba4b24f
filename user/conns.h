/* SPDX-License-Identifier: Apache-2.0 */
/* `kspan conns`: a live table of TCP connections and their latency figures. */
#ifndef __KSPAN_CONNS_H_USER
#define __KSPAN_CONNS_H_USER

/* argv[0] is "conns". Returns the process exit code. */
int conns_main(int argc, char **argv);

#endif /* __KSPAN_CONNS_H_USER */
