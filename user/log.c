// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>

#include "log.h"

static const char *const level_names[] = {
	[KLOG_ERROR] = "error",
	[KLOG_WARN] = "warn",
	[KLOG_INFO] = "info",
	[KLOG_DEBUG] = "debug",
};

static enum log_level level = KLOG_INFO;

void log_set_level(enum log_level l)
{
	level = l;
}

bool log_on(enum log_level l)
{
	return l <= level;
}

int log_level_parse(const char *s, enum log_level *l)
{
	for (int i = 0; i <= KLOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*l = i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*l = KLOG_WARN;
		return 0;
	}
	return -1;
}

void log_vto(FILE *f, enum log_level l, const char *fmt, va_list ap)
{
	char line[2048];
	int n, len;

	if (!log_on(l))
		return;
	n = snprintf(line, sizeof(line), "kspan: %s: ", level_names[l]);
	len = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (len < 0)
		len = 0;
	len += n;
	if (len > (int)sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* Text that came with its own newline (libbpf's) keeps one. */
	while (len > n && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';
	fwrite(line, 1, len, f);
	fflush(f);
}

void log_to(FILE *f, enum log_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vto(f, l, fmt, ap);
	va_end(ap);
}
