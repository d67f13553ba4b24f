# SPDX-License-Identifier: Apache-2.0
# kspan conns: per-connection TCP latency. bpf/conns.bpf.c joins the
# skeleton through the main Makefile's wildcard. In tracing mode the same
# records give spans their TCP figures (tcpfig.c) and the TCP metrics
# (tcpmetrics.c); selfstats.c is kspan's own counters as one snapshot.
CORE_SRCS += user/conns_table.c user/tcpmetrics.c user/tcpfig.c user/selfstats.c
APP_SRCS += user/conns.c
DEB_PKGS += tmux
