# SPDX-License-Identifier: Apache-2.0
# kspan conns: per-connection TCP latency. bpf/conns.bpf.c joins the
# skeleton through the main Makefile's wildcard.
CORE_SRCS += user/conns_table.c
APP_SRCS += user/conns.c
DEB_PKGS += tmux
