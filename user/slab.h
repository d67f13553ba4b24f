/* SPDX-License-Identifier: Apache-2.0 */
/* A pool of fixed-size objects addressed by index, up to a maximum count.
 * Memory is mapped in chunks as the pool grows and a chunk is unmapped by
 * slab_trim() once no object in it is in use, so an idle pool holds at most
 * one chunk whatever its maximum. Allocation takes the lowest chunk with room,
 * which keeps the live objects packed in the first chunks and lets the last
 * ones drain. Objects are not cleared: a reused one holds what it held. */
#ifndef __KSPAN_SLAB_H
#define __KSPAN_SLAB_H

#include <stddef.h>
#include <stdint.h>

struct slab_chunk {
	char *mem;		/* objects, then a free-list link per object; NULL: unmapped */
	uint32_t used;		/* objects handed out */
	uint32_t fresh;		/* objects never handed out since it was mapped */
	int32_t free;		/* first free object (chunk-local index), or -1 */
};

struct slab {
	size_t size;		/* bytes per object */
	size_t chunk_bytes;	/* mapping size of one chunk, page multiple */
	uint32_t max;		/* objects at most */
	uint32_t shift;		/* objects per chunk = 1 << shift */
	uint32_t nchunks;
	uint32_t used;		/* objects handed out */
	uint32_t mapped;	/* chunks mapped */
	uint32_t hint;		/* no chunk below this one has room */
	uint64_t *room;		/* bit per chunk: unmapped, or mapped with a free object */
	struct slab_chunk *chunks;
};

/* Objects of `size` bytes, at most `max`. 0 on success, -1 when out of
 * memory for the chunk directory. Nothing is mapped yet. */
int slab_init(struct slab *s, size_t size, uint32_t max);
void slab_destroy(struct slab *s);
/* Index of an unused object, or -1 when `max` are in use or no memory could
 * be mapped. */
int32_t slab_alloc(struct slab *s);
void slab_put(struct slab *s, int32_t i);
/* Unmap every chunk with no object in use, except the first. Returns how
 * many were unmapped. */
uint32_t slab_trim(struct slab *s);

/* The object at index i, which must be in use. */
static inline void *slab_at(const struct slab *s, int32_t i)
{
	const struct slab_chunk *c = &s->chunks[(uint32_t)i >> s->shift];

	return c->mem + ((uint32_t)i & ((1u << s->shift) - 1)) * s->size;
}

/* The object at index i when its chunk is mapped, else NULL (for lookups
 * by an index that may be stale). */
static inline void *slab_at_checked(const struct slab *s, int32_t i)
{
	if (i < 0 || (uint32_t)i >= s->max || !s->chunks[(uint32_t)i >> s->shift].mem)
		return NULL;
	return slab_at(s, i);
}

static inline size_t slab_bytes(const struct slab *s)
{
	return (size_t)s->mapped * s->chunk_bytes;
}

#endif /* __KSPAN_SLAB_H */
