# SPDX-License-Identifier: Apache-2.0
# Bounded memory: pools that map chunks as they grow and unmap them when
# idle, and the connection-storm tests.
CORE_SRCS += user/slab.c

# The load generator of tests/e2e/test_storm.py.
all: $(OUTPUT)/storm
$(OUTPUT)/storm: tests/storm/storm.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -std=gnu11 $(WARN) -D_GNU_SOURCE $< -o $@
