/* SPDX-License-Identifier: Apache-2.0 */
/* Trace and span ids, and clock conversion. */
#ifndef __KSPAN_IDS_H
#define __KSPAN_IDS_H

#include <stdbool.h>
#include <stdint.h>

/* Seed the id generator from getrandom() and note the offset between
 * CLOCK_MONOTONIC (BPF timestamps) and CLOCK_REALTIME. */
void ids_init(void);
void ids_trace_id(uint8_t out[16]);
void ids_span_id(uint8_t out[8]);
bool ids_is_zero(const uint8_t *id, int len);
/* BPF's bpf_ktime_get_ns() time to unix epoch ns. */
uint64_t ids_mono_to_unix(uint64_t mono_ns);
/* Its inverse, exact for times made by ids_mono_to_unix(). */
uint64_t ids_unix_to_mono(uint64_t unix_ns);
uint64_t ids_mono_now(void);

#endif /* __KSPAN_IDS_H */
