# SPDX-License-Identifier: Apache-2.0
# OTLP export: protobuf-c code generated at build time from the
# .proto files in proto/, the exporter's sources and libraries, and the npm
# packages of the test receiver in tests/receiver.

PROTOC_C ?= protoc-c
OTLP_GEN := $(OUTPUT)/gen
OTLP_PROTOS := \
	proto/opentelemetry/proto/common/v1/common.proto \
	proto/opentelemetry/proto/resource/v1/resource.proto \
	proto/opentelemetry/proto/trace/v1/trace.proto \
	proto/opentelemetry/proto/metrics/v1/metrics.proto \
	proto/opentelemetry/proto/collector/trace/v1/trace_service.proto \
	proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto \
	proto/kspan/rpc_status.proto
OTLP_PB_C := $(patsubst proto/%.proto,$(OTLP_GEN)/%.pb-c.c,$(OTLP_PROTOS))
OTLP_PB_H := $(OTLP_PB_C:.c=.h)
OTLP_PB_O := $(OTLP_PB_C:.c=.o)

CORE_SRCS += user/otlp_config.c user/otlp_encode.c user/otlp_json.c \
	user/otlp_resp.c user/otlp_resource.c user/otlp_metrics.c \
	user/export_otlp.c
CORE_LDLIBS += -lprotobuf-c -lcurl -lz
CFLAGS += -I$(OTLP_GEN)
EXTRA_DEPS += $(OTLP_PB_H)
EXTRA_OBJS += $(OTLP_PB_O)
BUILD_PKGS += protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev zlib1g-dev

# One protoc-c run writes both the .c and the .h (a grouped pattern rule).
$(OTLP_GEN)/%.pb-c.c $(OTLP_GEN)/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(OTLP_GEN)
	$(Q)$(PROTOC_C) --c_out=$(OTLP_GEN) -Iproto $<

$(OTLP_PB_O): $(OTLP_GEN)/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c $(OTLP_PB_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The test receiver's npm packages, installed exactly as package-lock.json
# says, again only when the lock file changes.
OTLP_RECEIVER := tests/receiver
.PHONY: deps-npm
deps: deps-npm
deps-npm: $(OTLP_RECEIVER)/node_modules/.package-lock.json

$(OTLP_RECEIVER)/node_modules/.package-lock.json: $(OTLP_RECEIVER)/package.json $(OTLP_RECEIVER)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }
	$(call msg,NPM,$(OTLP_RECEIVER))
	$(Q)cd $(OTLP_RECEIVER) && npm ci --no-audit --no-fund --loglevel=error
	$(Q)touch $@
