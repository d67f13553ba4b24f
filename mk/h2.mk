# SPDX-License-Identifier: Apache-2.0
# kspan HTTP/2 and gRPC: frame parser, HPACK decoder, the per-connection
# stream tracker, and the per-thread table of server requests in flight that
# HTTP/1 and HTTP/2 share for nesting. The e2e tests drive nghttp2 (client,
# server, and nghttpx for Upgrade: h2c), grpcio, and httpx over h2 (python3-h2).
CORE_SRCS += user/hpack.c user/h2.c user/h2session.c user/nest.c
DEB_PKGS += nghttp2-client nghttp2-server nghttp2-proxy python3-grpcio python3-httpx \
	python3-h2
