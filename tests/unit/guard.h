/* SPDX-License-Identifier: Apache-2.0 */
/* Test inputs placed so that their last byte touches a PROT_NONE page: a
 * parser that reads one byte past its input faults. Include after cmocka. */
#ifndef __KSPAN_TEST_GUARD_H
#define __KSPAN_TEST_GUARD_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard {
	char *map;
	size_t map_len;
	char *end;		/* first byte of the PROT_NONE page */
	size_t room;		/* writable bytes before end */
};

static inline void guard_init(struct guard *g, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;

	if (!data)
		data = pg;
	g->map_len = data + pg;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	g->end = g->map + data;
	g->room = data;
	assert_int_equal(mprotect(g->end, pg, PROT_NONE), 0);
}

/* Copy len bytes so that they end exactly at the guard page. */
static inline void *guard_put(struct guard *g, const void *src, size_t len)
{
	char *p;

	assert_true(len <= g->room);
	p = g->end - len;
	if (len)
		memcpy(p, src, len);
	return p;
}

static inline void guard_free(struct guard *g)
{
	munmap(g->map, g->map_len);
}

#endif /* __KSPAN_TEST_GUARD_H */
