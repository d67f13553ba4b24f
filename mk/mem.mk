# SPDX-License-Identifier: Apache-2.0
# Bounded memory: pools that map chunks as they grow and unmap them when
# idle, and the connection-storm tests.
CORE_SRCS += user/slab.c
