# SPDX-License-Identifier: Apache-2.0
# kspan HTTP/2 and gRPC: frame parser, HPACK decoder and the
# per-connection stream tracker; the e2e tests drive nghttp2 and grpcio.
CORE_SRCS += user/hpack.c user/h2.c user/h2session.c
DEB_PKGS += nghttp2-client nghttp2-server python3-grpcio
