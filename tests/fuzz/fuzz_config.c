// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for user/config.c.
 *
 * The input, in a heap buffer of exactly its size, is parsed as a config
 * file; its lines are also read as a KSPAN_* environment. The invariants
 * the API promises are checked: every setting names an entry of the table,
 * has an argument exactly when the option takes one, no value of the file
 * has control characters, naming rules have a name and a matcher and stay
 * within their bounds, and applying the levels never fails for an accepting
 * handler.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "otlp.h"

#include "../unit/config_schema.h"

#define MAX_ENV 32

#define CHECK(x)			\
	do {				\
		if (!(x))		\
			abort();	\
	} while (0)

static int accept_all(void *ctx, int val, char *arg)
{
	const struct option *o = config_option_val(&schema, val);

	(void)ctx;
	CHECK(o);
	CHECK((o->has_arg == no_argument) == (arg == NULL));
	return 0;
}

static void check_settings(const struct config *c)
{
	CHECK(c->n <= CONFIG_SETTINGS_MAX);
	for (size_t i = 0; i < c->n; i++) {
		const struct config_setting *s = &c->set[i];
		bool in_table = false;

		for (const struct option *o = opts; o->name; o++)
			in_table = in_table || o == s->opt;
		CHECK(in_table);
		CHECK(strcmp(s->opt->name, "config") && strcmp(s->opt->name, "help") &&
		      strcmp(s->opt->name, "version"));
		CHECK((s->opt->has_arg == no_argument) == (s->arg == NULL));
		CHECK(!s->off || s->opt->has_arg == no_argument);
		/* The file refuses control characters; the environment, like
		 * the command line, leaves values to the option's handler. */
		for (const char *p = s->arg; c->src == CONFIG_SRC_FILE && p && *p; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		if (c->src == CONFIG_SRC_ENV) {
			CHECK(s->var && strncmp(s->var, "KSPAN_", 6) == 0);
			CHECK(!s->arg || *s->arg);
		}
	}
}

static void check_naming(const struct naming_config *nc)
{
	CHECK(nc->nrules <= NAMING_RULES_MAX);
	CHECK(nc->nlabel_env <= NAMING_SOURCES_MAX && nc->nlabel_files <= NAMING_SOURCES_MAX);
	CHECK(strlen(nc->log_dir) < NAMING_PATH_MAX && nc->log_dir[0] == '/');
	for (size_t i = 0; i < nc->nrules; i++) {
		const struct naming_rule *r = &nc->rules[i];

		CHECK(r->name && *r->name && strlen(r->name) < NAMING_NAME_MAX);
		CHECK(r->nexe + r->ncgroup + r->ncid + r->nport > 0);
		CHECK(r->nexe <= NAMING_VALUES_MAX && r->ncgroup <= NAMING_VALUES_MAX &&
		      r->ncid <= NAMING_VALUES_MAX && r->nport <= NAMING_VALUES_MAX);
		for (size_t k = 0; k < r->nport; k++)
			CHECK(r->port[k] > 0);
		for (size_t k = 0; k < r->ncid; k++)
			CHECK(strlen(r->cid[k]) >= 12);
	}
	for (size_t i = 0; i < nc->nlabel_files; i++)
		CHECK(nc->label_files[i][0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config file, env, *src[CONFIG_SRCS];
	char *buf = malloc(size ? size : 1), *envv[MAX_ENV + 1];
	size_t n = 0, start = 0;
	int r;

	CHECK(buf);
	if (size)
		memcpy(buf, data, size);
	config_init(&file, CONFIG_SRC_FILE);
	r = config_parse(&file, &schema, "fuzz.yaml", buf, size, NULL);
	CHECK(r == 0 || r == -1);
	if (r == 0) {
		check_settings(&file);
		if (file.has_naming)
			check_naming(&file.naming);
	}

	/* Lines as an environment, each NUL ended in its own buffer. */
	while (n < MAX_ENV && start < size) {
		size_t end = start;

		while (end < size && data[end] != '\n' && data[end] != '\0')
			end++;
		envv[n] = malloc(end - start + 1);
		CHECK(envv[n]);
		memcpy(envv[n], data + start, end - start);
		envv[n][end - start] = '\0';
		n++;
		start = end + 1;
	}
	envv[n] = NULL;
	config_init(&env, CONFIG_SRC_ENV);
	r = config_from_env(&env, &schema, envv, NULL);
	CHECK(r == 0 || r == -1);
	if (r == 0)
		check_settings(&env);

	src[CONFIG_SRC_FILE] = &file;
	src[CONFIG_SRC_ENV] = &env;
	src[CONFIG_SRC_CMDLINE] = NULL;
	for (int l = CONFIG_SRC_FILE; l <= CONFIG_SRC_ENV; l++)
		CHECK(config_apply(src, l, accept_all, NULL, NULL) == 0);

	for (size_t i = 0; i < n; i++)
		free(envv[i]);
	config_free(&env);
	config_free(&file);
	free(buf);
	return 0;
}
