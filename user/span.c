// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "span.h"

void span_init(struct span *s)
{
	memset(s, 0, offsetof(struct span, attrs));
}

static struct span_attr *attr_new(struct span *s, const char *key, uint8_t type)
{
	struct span_attr *a;

	if (s->nattrs >= SPAN_MAX_ATTRS) {
		s->attrs_dropped++;
		return NULL;
	}
	a = &s->attrs[s->nattrs++];
	a->key = key;
	a->type = type;
	return a;
}

int span_attr_str(struct span *s, const char *key, const char *val, size_t len)
{
	struct span_attr *a;

	if (len > (size_t)(SPAN_STRBUF - s->strused)) {
		s->attrs_dropped++;
		return -1;
	}
	a = attr_new(s, key, SPAN_ATTR_STR);
	if (!a)
		return -1;
	memcpy(s->strbuf + s->strused, val, len);
	a->v.s.off = s->strused;
	a->v.s.len = (uint16_t)len;
	s->strused += len;
	return 0;
}

int span_attr_int(struct span *s, const char *key, int64_t v)
{
	struct span_attr *a = attr_new(s, key, SPAN_ATTR_INT);

	if (!a)
		return -1;
	a->v.i = v;
	return 0;
}

int span_attr_bool(struct span *s, const char *key, bool v)
{
	struct span_attr *a = attr_new(s, key, SPAN_ATTR_BOOL);

	if (!a)
		return -1;
	a->v.b = v;
	return 0;
}

const struct span_attr *span_attr_find(const struct span *s, const char *key)
{
	for (uint16_t i = 0; i < s->nattrs; i++)
		if (strcmp(s->attrs[i].key, key) == 0)
			return &s->attrs[i];
	return NULL;
}
