/* SPDX-License-Identifier: Apache-2.0 */
/* kspan's settings from a YAML file (--config) and KSPAN_* environment
 * variables, turned into the long options of the command line: every long
 * option OPT can be set as the key OPT in the file and as KSPAN_OPT (upper
 * case, dashes as underscores) in the environment, and goes through the same
 * handler as --OPT. Precedence, lowest first: defaults, file, environment,
 * command line; an option set at one level replaces it (lists included) at
 * every lower level. The file also holds what has no flag: service-names
 * (naming.h). See README, "Configuration". */
#ifndef __KSPAN_CONFIG_H
#define __KSPAN_CONFIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "naming.h"

#define CONFIG_FILE_MAX		(64 * 1024)	/* bytes of a config file */
#define CONFIG_DEPTH_MAX	6		/* nested mappings and lists */
#define CONFIG_ITEMS_MAX	128		/* entries of one mapping or list */
#define CONFIG_NODES_MAX	4096		/* values in a file */
#define CONFIG_SCALAR_MAX	4096		/* bytes of one value */
#define CONFIG_SETTINGS_MAX	2048		/* settings from one source */

enum config_source {
	CONFIG_SRC_FILE = 0,
	CONFIG_SRC_ENV,
	CONFIG_SRC_CMDLINE,
	CONFIG_SRCS,
};

/* kspan's options, as the parsers need to know them. */
struct config_schema {
	const struct option *options;	/* getopt_long's table, {0} ended */
	const char *const *repeatable;	/* options of which every value is one
					 * more occurrence (--exe a --exe b):
					 * a list in the file or a comma list in
					 * the environment gives several. Other
					 * options get one value (a list is
					 * joined with commas). NULL ended */
	const char *const *reserved;	/* only on the command line (config,
					 * help, version); NULL ended */
};

struct config_setting {
	const struct option *opt;	/* entry of schema->options */
	char *arg;			/* NULL for a flag */
	bool off;			/* a flag set to false: nothing to apply,
					 * but lower levels are overridden */
	unsigned line;			/* file: line of the key */
	const char *var;		/* environment: the variable */
};

struct config {
	enum config_source src;
	char *file;			/* the file's name, for messages */
	struct config_setting *set;
	size_t n, cap;
	struct naming_config naming;	/* service-names (file only) */
	bool has_naming;
	char **owned;			/* strings handed out, freed with it */
	size_t nowned, owned_cap;
};

/* Called for each applied setting with the option's val and a copy of its
 * argument (NULL for a flag) that lives until config_free(). Returns 0, or
 * -1 after printing what is wrong. */
typedef int (*config_apply_fn)(void *ctx, int val, char *arg);

void config_init(struct config *c, enum config_source src);
void config_free(struct config *c);
/* The YAML text buf[0..len); file names it in messages. Returns 0, or -1
 * after printing "kspan: FILE:LINE: key 'K': what is wrong" on err. */
int config_parse(struct config *c, const struct config_schema *s, const char *file,
		 const char *buf, size_t len, FILE *err);
/* config_parse() of a file of at most CONFIG_FILE_MAX bytes. */
int config_load(struct config *c, const struct config_schema *s, const char *path, FILE *err);
/* KSPAN_* variables of env, a NULL-ended "NAME=value" array (NULL: the
 * process environment). Empty values count as unset; unknown KSPAN_*
 * variables are reported on err and ignored. Returns 0, or -1 after
 * printing what is wrong (a flag that is not true, false, 1 or 0). */
int config_from_env(struct config *c, const struct config_schema *s, char *const *env,
		    FILE *err);
/* One occurrence of opt on the command line. 0, or -1 when full. */
int config_add(struct config *c, const struct option *opt, const char *arg);
/* The table entry for a long name, or for a getopt val. */
const struct option *config_option(const struct config_schema *s, const char *name);
const struct option *config_option_val(const struct config_schema *s, int val);
/* "KSPAN_" + name in upper case with '-' as '_', into out. */
void config_env_name(const char *name, char *out, size_t outsz);

/* Apply every setting of c (to check its values). */
int config_check(struct config *c, config_apply_fn fn, void *ctx, FILE *err);
/* Apply the settings of srcs[level] that no higher level sets. srcs[] may
 * hold NULLs. On a handler failure, says where the value came from. */
int config_apply(struct config *const srcs[CONFIG_SRCS], enum config_source level,
		 config_apply_fn fn, void *ctx, FILE *err);

#endif /* __KSPAN_CONFIG_H */
