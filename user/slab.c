// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "slab.h"

#define SLAB_CHUNK_TARGET	(64u << 10)	/* bytes of objects per chunk, roughly */
#define SLAB_MAX_CHUNKS		1024		/* chunks are made larger beyond this */

static uint32_t per_chunk(const struct slab *s)
{
	return 1u << s->shift;
}

/* Objects chunk k can hold: the last one may be cut short by `max`. */
static uint32_t chunk_cap(const struct slab *s, uint32_t k)
{
	uint32_t first = k << s->shift;

	return s->max - first < per_chunk(s) ? s->max - first : per_chunk(s);
}

static int32_t *chunk_links(const struct slab *s, const struct slab_chunk *c)
{
	return (int32_t *)(c->mem + ((per_chunk(s) * s->size + 3) & ~(size_t)3));
}

int slab_init(struct slab *s, size_t size, uint32_t max)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint32_t per = 1, limit = 1;

	*s = (struct slab){ .size = size ? size : 1, .max = max };
	if (!max || max > INT32_MAX)
		return -1;
	while ((size_t)per * 2 * s->size <= SLAB_CHUNK_TARGET)
		per *= 2;
	while (limit < max)
		limit *= 2;
	if (per > limit)
		per = limit;
	while ((max + per - 1) / per > SLAB_MAX_CHUNKS)
		per *= 2;
	while ((1u << s->shift) < per)
		s->shift++;
	s->nchunks = (max + per - 1) / per;
	s->chunk_bytes = ((per * s->size + 3) & ~(size_t)3) + (size_t)per * sizeof(int32_t);
	s->chunk_bytes = (s->chunk_bytes + page - 1) & ~(page - 1);
	s->chunks = calloc(s->nchunks, sizeof(*s->chunks));
	s->room = malloc((s->nchunks + 63) / 64 * sizeof(*s->room));
	if (!s->chunks || !s->room) {
		slab_destroy(s);
		return -1;
	}
	for (uint32_t w = 0; w < (s->nchunks + 63) / 64; w++)
		s->room[w] = ~0ull;
	return 0;
}

void slab_destroy(struct slab *s)
{
	for (uint32_t k = 0; s->chunks && k < s->nchunks; k++)
		if (s->chunks[k].mem)
			munmap(s->chunks[k].mem, s->chunk_bytes);
	free(s->chunks);
	free(s->room);
	*s = (struct slab){};
}

/* The lowest chunk at or above the hint with room (there is one while fewer
 * than max objects are in use). */
static uint32_t find_room(const struct slab *s)
{
	uint32_t w = s->hint / 64, nw = (s->nchunks + 63) / 64;
	uint64_t bits = s->room[w] & (~0ull << (s->hint % 64));

	while (!bits && ++w < nw)
		bits = s->room[w];
	return bits ? w * 64 + (uint32_t)__builtin_ctzll(bits) : s->nchunks;
}

int32_t slab_alloc(struct slab *s)
{
	struct slab_chunk *c;
	uint32_t k, j;

	if (s->used >= s->max)
		return -1;
	k = find_room(s);
	if (k >= s->nchunks)
		return -1;
	c = &s->chunks[k];
	if (!c->mem) {
		void *m = mmap(NULL, s->chunk_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return -1;
		c->mem = m;
		c->used = c->fresh = 0;
		c->free = -1;
		s->mapped++;
	}
	if (c->free >= 0) {
		j = c->free;
		c->free = chunk_links(s, c)[j];
	} else {
		j = c->fresh++;
	}
	c->used++;
	s->used++;
	if (c->used == chunk_cap(s, k))
		s->room[k / 64] &= ~(1ull << (k % 64));
	s->hint = k;
	return (int32_t)(k << s->shift | j);
}

void slab_put(struct slab *s, int32_t i)
{
	uint32_t k = (uint32_t)i >> s->shift, j = (uint32_t)i & (per_chunk(s) - 1);
	struct slab_chunk *c = &s->chunks[k];

	chunk_links(s, c)[j] = c->free;
	c->free = j;
	c->used--;
	s->used--;
	s->room[k / 64] |= 1ull << (k % 64);
	if (k < s->hint)
		s->hint = k;
}

uint32_t slab_trim(struct slab *s)
{
	uint32_t n = 0;

	for (uint32_t k = 1; k < s->nchunks; k++) {
		struct slab_chunk *c = &s->chunks[k];

		if (!c->mem || c->used)
			continue;
		munmap(c->mem, s->chunk_bytes);
		c->mem = NULL;
		s->mapped--;
		n++;
	}
	return n;
}
