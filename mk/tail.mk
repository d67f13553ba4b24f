# SPDX-License-Identifier: Apache-2.0
# Tail sampling: policies over the spans of a trace held in the trace
# buffer, and the table of recent decisions (user/tail.c).
CORE_SRCS += user/tail.c
