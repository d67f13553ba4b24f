/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* kspan's messages: one line each, "kspan: <level>: <text>", on stderr. */
#ifndef __KSPAN_LOG_H
#define __KSPAN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum log_level {
	KLOG_ERROR,	/* kspan (or a part of it) cannot do what was asked */
	KLOG_WARN,	/* it goes on, with less: what is missing and why */
	KLOG_INFO,	/* start, stop and the counters at exit */
	KLOG_DEBUG,	/* libbpf, probes attached, counters every few seconds */
};

/* Messages above the level are dropped; the default is KLOG_INFO. */
void log_set_level(enum log_level l);
bool log_on(enum log_level l);
/* "error", "warn", "info" or "debug"; -1 for anything else. */
int log_level_parse(const char *s, enum log_level *l);

/* One line to f: the prefix, the text (no newline) and a newline, written
 * with one call so that lines from two threads never mix. */
void log_to(FILE *f, enum log_level l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vto(FILE *f, enum log_level l, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define log_error(...)	log_to(stderr, KLOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_to(stderr, KLOG_WARN, __VA_ARGS__)
#define log_info(...)	log_to(stderr, KLOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_to(stderr, KLOG_DEBUG, __VA_ARGS__)

#endif /* __KSPAN_LOG_H */
