# SPDX-License-Identifier: Apache-2.0
# Bounded memory: pools that map chunks as they grow and unmap them when
# idle, and the connection-storm tests.
CORE_SRCS += user/slab.c

# The load generator of tests/e2e/test_storm.py.
all: $(OUTPUT)/storm
$(OUTPUT)/storm: tests/storm/storm.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 $(WARN) -D_GNU_SOURCE $< -o $@

# The full storm: 1M short connections and 50k idle ones (a few minutes).
.PHONY: storm
storm: all
	$(Q)KSPAN_STORM_SHORT=1000000 KSPAN_STORM_IDLE=50000 $(PYTHON) -m pytest -q -s \
		-p no:cacheprovider tests/e2e/test_storm.py

# kspan's peak RSS in the bench's traced-nginx run, with a breakdown.
.PHONY: bench-rss
bench-rss: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/rss.py $(BENCH_ARGS)
