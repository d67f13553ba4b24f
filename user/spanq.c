// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spanq.h"

/* A block: the next block of its chain, then data. */
struct spanq_block {
	int32_t next;
	unsigned char data[SPANQ_BLOCK - sizeof(int32_t)];
};

#define SPANQ_DATA	sizeof(((struct spanq_block *)0)->data)
#define SPANQ_HDR	offsetof(struct span, attrs)
/* Blocks for the largest span: every attribute and string byte. */
#define SPANQ_CHAIN_MAX	((sizeof(struct span) + SPANQ_DATA - 1) / SPANQ_DATA)

_Static_assert(sizeof(struct spanq_block) == SPANQ_BLOCK, "a block is SPANQ_BLOCK bytes");

int spanq_init(struct spanq *q, uint32_t max)
{
	*q = (struct spanq){ .max = max ? max : 1 };
	if ((uint64_t)q->max * SPANQ_CHAIN_MAX > INT32_MAX)
		return -ENOMEM;
	q->ents = calloc(q->max, sizeof(*q->ents));
	if (!q->ents || slab_init(&q->blocks, SPANQ_BLOCK, q->max * SPANQ_CHAIN_MAX)) {
		spanq_free(q);
		return -ENOMEM;
	}
	return 0;
}

void spanq_free(struct spanq *q)
{
	if (q->blocks.chunks)
		slab_destroy(&q->blocks);
	free(q->ents);
	*q = (struct spanq){};
}

static void chain_put(struct spanq *q, int32_t b)
{
	while (b >= 0) {
		int32_t next = ((struct spanq_block *)slab_at(&q->blocks, b))->next;

		slab_put(&q->blocks, b);
		b = next;
	}
}

/* Writes a byte stream into a chain of blocks allocated as it goes. */
struct chain_writer {
	struct spanq *q;
	int32_t first;
	struct spanq_block *cur;
	size_t off;		/* into cur->data */
};

static bool chain_write(struct chain_writer *w, const void *src, size_t n)
{
	const unsigned char *p = src;

	while (n) {
		size_t k;

		if (!w->cur || w->off == SPANQ_DATA) {
			int32_t b = slab_alloc(&w->q->blocks);
			struct spanq_block *blk;

			if (b < 0)
				return false;
			blk = slab_at(&w->q->blocks, b);
			blk->next = -1;
			if (w->cur)
				w->cur->next = b;
			else
				w->first = b;
			w->cur = blk;
			w->off = 0;
		}
		k = SPANQ_DATA - w->off < n ? SPANQ_DATA - w->off : n;
		memcpy(w->cur->data + w->off, p, k);
		w->off += k;
		p += k;
		n -= k;
	}
	return true;
}

bool spanq_push(struct spanq *q, const struct span *s, void *tag)
{
	size_t nattrs = s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
	size_t used = s->strused < SPAN_STRBUF ? s->strused : SPAN_STRBUF;
	struct chain_writer w = { .q = q, .first = -1 };
	struct spanq_ent *e;

	if (q->count >= q->max)
		return false;
	if (!chain_write(&w, s, SPANQ_HDR) ||
	    !chain_write(&w, s->attrs, nattrs * sizeof(s->attrs[0])) ||
	    !chain_write(&w, s->strbuf, used)) {
		chain_put(q, w.first);
		return false;
	}
	e = spanq_at(q, q->count);
	e->tag = tag;
	e->first = w.first;
	q->count++;
	return true;
}

/* Reads the byte stream of a chain back. */
struct chain_reader {
	const struct spanq *q;
	const struct spanq_block *cur;
	size_t off;
};

static void chain_read(struct chain_reader *r, void *dst, size_t n)
{
	unsigned char *p = dst;

	while (n) {
		size_t k;

		if (r->off == SPANQ_DATA) {
			r->cur = slab_at(&r->q->blocks, r->cur->next);
			r->off = 0;
		}
		k = SPANQ_DATA - r->off < n ? SPANQ_DATA - r->off : n;
		memcpy(p, r->cur->data + r->off, k);
		r->off += k;
		p += k;
		n -= k;
	}
}

void spanq_span(const struct spanq *q, const struct spanq_ent *e, struct span *dst)
{
	struct chain_reader r = { .q = q, .cur = slab_at(&q->blocks, e->first) };
	size_t nattrs, used;

	/* The lengths pushed, clamped as they were then. */
	chain_read(&r, dst, SPANQ_HDR);
	nattrs = dst->nattrs < SPAN_MAX_ATTRS ? dst->nattrs : SPAN_MAX_ATTRS;
	used = dst->strused < SPAN_STRBUF ? dst->strused : SPAN_STRBUF;
	chain_read(&r, dst->attrs, nattrs * sizeof(dst->attrs[0]));
	chain_read(&r, dst->strbuf, used);
}

void spanq_pop(struct spanq *q, uint32_t n)
{
	for (uint32_t i = 0; i < n && q->count; i++) {
		chain_put(q, q->ents[q->head].first);
		q->head = (q->head + 1) % q->max;
		q->count--;
	}
}

void spanq_truncate(struct spanq *q, uint32_t keep)
{
	while (q->count > keep) {
		chain_put(q, spanq_at(q, q->count - 1)->first);
		q->count--;
	}
}

size_t spanq_trim(struct spanq *q)
{
	slab_trim(&q->blocks);
	return slab_bytes(&q->blocks);
}
