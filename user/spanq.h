/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded FIFO of spans that holds only what each span uses: its fields,
 * its attributes and its string bytes (a few hundred bytes, where a struct
 * span is 2.5 KiB), packed into a chain of 256-byte blocks from a slab.
 * The slab hands out its lowest blocks first and unmaps chunks left empty
 * (spanq_trim), so the memory a queue keeps follows what it holds, and a
 * full queue of the largest spans still fits: the count is the only limit.
 * Not thread-safe: the caller locks. */
#ifndef __KSPAN_SPANQ_H
#define __KSPAN_SPANQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slab.h"
#include "span.h"

#define SPANQ_BLOCK	256

struct spanq_ent {
	void *tag;		/* the caller's */
	int32_t first;		/* the first block */
};

struct spanq {
	struct slab blocks;
	struct spanq_ent *ents;	/* a ring of max entries */
	uint32_t max, head, count;
};

/* At most max spans; 0, or -ENOMEM. */
int spanq_init(struct spanq *q, uint32_t max);
void spanq_free(struct spanq *q);

/* Append s with tag; false (nothing changed) when the queue holds max
 * spans or memory for its blocks could not be mapped. */
bool spanq_push(struct spanq *q, const struct span *s, void *tag);
/* The i-th oldest entry, i < count. */
static inline struct spanq_ent *spanq_at(const struct spanq *q, uint32_t i)
{
	return &q->ents[(q->head + i) % q->max];
}
/* Unpack entry e into dst: the fields, the attributes below nattrs and the
 * string bytes below strused, as pushed. Needs no lock against pushes. */
void spanq_span(const struct spanq *q, const struct spanq_ent *e, struct span *dst);
/* Remove the n oldest spans (n <= count). */
void spanq_pop(struct spanq *q, uint32_t n);
/* Keep the keep oldest spans and remove the rest (keep <= count). */
void spanq_truncate(struct spanq *q, uint32_t keep);
/* Give back the memory of chunks no span uses; bytes still mapped. */
size_t spanq_trim(struct spanq *q);

#endif /* __KSPAN_SPANQ_H */
