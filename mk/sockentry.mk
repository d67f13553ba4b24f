# SPDX-License-Identifier: Apache-2.0
# The socket-table rule of bpf/sock_entry.h is unit-tested as plain C.
$(OUTPUT)/test/test_sock_entry: bpf/sock_entry.h
