/* SPDX-License-Identifier: Apache-2.0 */
/* An option table shaped like kspan's, for the config tests and the config
 * fuzz target: repeatable selectors, comma lists, flags, short options, the
 * OTLP options and the command-line-only ones. */
#ifndef __KSPAN_TEST_CONFIG_SCHEMA_H
#define __KSPAN_TEST_CONFIG_SCHEMA_H

#include <getopt.h>

#include "config.h"
#include "otlp.h"

enum { O_EXE = 300, O_PORT, O_QALLOW, O_INJECT, O_NOTLS, O_CAP, O_VERSION };
static const struct option opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "exporter", required_argument, NULL, 'e' },
	{ "exe", required_argument, NULL, O_EXE },
	{ "port", required_argument, NULL, O_PORT },
	{ "query-allow", required_argument, NULL, O_QALLOW },
	{ "inject-traceparent", no_argument, NULL, O_INJECT },
	{ "no-tls", no_argument, NULL, O_NOTLS },
	{ "capture-bytes", required_argument, NULL, O_CAP },
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	OTLP_LONG_OPTIONS,
	{},
};
static const char *const repeatable[] = { "pid", "exe", "port", NULL };
static const char *const reserved[] = { "config", "help", "version", NULL };
static const struct config_schema schema = {
	.options = opts, .repeatable = repeatable, .reserved = reserved,
};

#endif /* __KSPAN_TEST_CONFIG_SCHEMA_H */
