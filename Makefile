# SPDX-License-Identifier: Apache-2.0
# kspan: `make` builds build/kspan; `make test` installs deps, builds and runs
# every test; `make deps` installs what the build and the tests need.

.DEFAULT_GOAL := all
VERSION := 0.1.0
OUTPUT := build
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
CC ?= cc
PYTHON := /usr/bin/python3

ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
ifeq ($(wildcard vmlinux/$(ARCH)/vmlinux.h),)
$(error kspan: no vmlinux/$(ARCH)/vmlinux.h; generate it with 'bpftool btf dump file /sys/kernel/btf/vmlinux format c')
endif

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
	-Ivmlinux/$(ARCH) -Iinclude -Ibpf
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -Iinclude -Iuser -I$(OUTPUT) \
	-DKSPAN_VERSION='"$(VERSION)"' -D_GNU_SOURCE
LDLIBS := -lbpf -lelf -lz -lpthread
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

BPF_SRCS := $(wildcard bpf/*.bpf.c)
# Userspace modules that need no BPF: linked into unit tests and fuzzers too.
CORE_SRCS := user/http1.c user/span.c user/spanq.c user/proc.c user/export_tree.c \
	user/export_otlp_json.c user/conn.c user/h1session.c user/trace.c \
	user/ids.c user/addr.c user/events.c user/tracectx.c user/redact.c user/sampler.c user/httpattr.c user/select.c \
	user/log.c
APP_SRCS := user/main.c user/loader.c
CORE_LDLIBS := -lm
# Objects built by rules in mk/*.mk (e.g. generated code), linked into kspan,
# the unit tests and the fuzzers; EXTRA_DEPS are built before any object.
EXTRA_OBJS :=
EXTRA_DEPS :=
# Debian packages: BUILD_PKGS build kspan (all the image's build stage
# installs); RUNTIME_PKGS are what kspan needs at run time beyond the
# libraries it links (those are read from the binary: runtime-pkgs);
# DEB_PKGS add what the tests and the bench need.
BUILD_PKGS := make gcc libc6-dev clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
RUNTIME_PKGS := ca-certificates
DEB_PKGS := libcmocka-dev libclang-rt-14-dev nginx-light curl python3 python3-pytest \
	iproute2 procps wrk libcap2-bin python3-yaml openssl

# Features add their sources, libraries, packages and targets here.
-include $(sort $(wildcard mk/*.mk))
DEB_PKGS += $(BUILD_PKGS)

CORE_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(CORE_SRCS))
APP_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(APP_SRCS))
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/test/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))

.DELETE_ON_ERROR:
.PHONY: all deps deps-sdkclient build-deps runtime-pkgs test unit e2e fuzz fuzz-smoke demo run \
	clean bench bench-rss bench-floor

all: $(OUTPUT)/kspan

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/test $(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUTPUT)/kspan.bpf.o: $(BPF_OBJS)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/kspan.skel.h: $(OUTPUT)/kspan.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name kspan_bpf > $@

$(OUTPUT)/%.o: user/%.c $(wildcard user/*.h) $(wildcard include/*.h) $(EXTRA_DEPS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(APP_OBJS): $(OUTPUT)/kspan.skel.h

$(OUTPUT)/kspan: $(APP_OBJS) $(CORE_OBJS) $(EXTRA_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) $(CORE_LDLIBS) -o $@

# Unit tests: every core module rebuilt with ASan and UBSan.
$(OUTPUT)/test/%: tests/unit/%.c $(CORE_SRCS) $(wildcard user/*.h tests/unit/*.h) $(EXTRA_DEPS) $(EXTRA_OBJS) | $(OUTPUT)/test
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CFLAGS) -O1 $(SAN) $< $(CORE_SRCS) $(EXTRA_OBJS) -lcmocka -lpthread $(CORE_LDLIBS) -o $@

$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(wildcard user/*.h tests/unit/*.h) $(EXTRA_DEPS) $(EXTRA_OBJS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(CFLAGS) -O1 -fsanitize=fuzzer,address,undefined $< $(CORE_SRCS) $(EXTRA_OBJS) -lpthread $(CORE_LDLIBS) -o $@

deps: deps-sdkclient
	@if ! dpkg -s $(DEB_PKGS) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS); \
	fi

# Only what building kspan needs (the container image's build stage).
build-deps:
	@if ! dpkg -s $(BUILD_PKGS) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BUILD_PKGS); \
	fi

# The packages kspan needs to run, one line: those owning every library the
# binary loads at start (ldd), and RUNTIME_PKGS.
runtime-pkgs: $(OUTPUT)/kspan
	$(Q)set -e; pkgs="$(RUNTIME_PKGS)"; \
	for lib in $$(ldd $< | awk '$$3 ~ /^\// { print $$3 }'); do \
		own=$$(dpkg -S "$$lib" 2>/dev/null || dpkg -S "$$(realpath "$$lib")" 2>/dev/null || \
			dpkg -S "/usr$$lib" 2>/dev/null) || \
			{ echo "kspan: no Debian package owns $$lib" >&2; exit 1; }; \
		pkgs="$$pkgs $${own%%:*}"; \
	done; printf '%s\n' $$pkgs | sort -u | tr '\n' ' '; echo

# The OpenTelemetry JS SDK client of the tests, pinned by its lock file.
deps-sdkclient: tests/sdkclient/node_modules/.package-lock.json
tests/sdkclient/node_modules/.package-lock.json: tests/sdkclient/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	$(Q)cd tests/sdkclient && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

FUZZ_SECONDS ?= 10
fuzz: $(FUZZ_BINS)
	$(Q)set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); n=$${n#fuzz_}; \
		mkdir -p $(OUTPUT)/fuzz/corpus-$$n; \
		echo "== $$f ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			$(OUTPUT)/fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>&1 | tail -n 3; \
	done

e2e: $(OUTPUT)/kspan
	$(Q)$(PYTHON) -m pytest -q tests/e2e

# Every test: what .ci/run calls.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(FUZZ_BINS)
	$(Q)$(PYTHON) -m pytest -q -p no:cacheprovider tests

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(OUTPUT)/kspan $(ARGS)

# Overhead, measured side by side (not a test: prints ratios).
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

# kspan's peak RSS under the bench's load, and what it is made of.
bench-rss: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/rss.py $(BENCH_ARGS)

# kspan against the least a capture at the same hooks costs (docs/bench.md).
bench-floor: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/floor.py $(BENCH_ARGS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/demo/demo.py

clean:
	$(Q)rm -rf $(OUTPUT)
