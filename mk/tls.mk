# SPDX-License-Identifier: Apache-2.0
# TLS plaintext through uprobes: bpf/tls.bpf.c joins the skeleton
# through the main Makefile's wildcard; the ELF/maps reader and the
# ServerHello parser need no skeleton, the discovery and attach code does.
# Go crypto/tls: RET instructions found with capstone (dlopen'd while a Go
# binary is inspected, so only its header is needed to build), struct
# offsets read from DWARF with libdw. The e2e tests use gnutls-cli and node as TLS peers,
# and build Go HTTPS servers and clients with Debian's Go.
CORE_SRCS += user/tls_elf.c user/tls_hello.c user/tls_go.c
APP_SRCS += user/tls.c
CORE_LDLIBS += -lelf -ldw
BUILD_PKGS += libcapstone-dev libdw-dev
RUNTIME_PKGS += libcapstone4
DEB_PKGS += gnutls-bin nodejs golang-go
