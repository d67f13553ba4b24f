# SPDX-License-Identifier: Apache-2.0
# TLS plaintext through uprobes: bpf/tls.bpf.c joins the skeleton
# through the main Makefile's wildcard; the ELF/maps reader and the
# ServerHello parser need no skeleton, the discovery and attach code does.
# The e2e tests use gnutls-cli and node as TLS peers.
CORE_SRCS += user/tls_elf.c user/tls_hello.c
APP_SRCS += user/tls.c
CORE_LDLIBS += -lelf
DEB_PKGS += gnutls-bin nodejs
