# SPDX-License-Identifier: Apache-2.0
# Configuration: the YAML config file (libyaml), KSPAN_* variables and
# service naming rules.
CORE_SRCS += user/config.c user/naming.c
CORE_LDLIBS += -lyaml
BUILD_PKGS += libyaml-dev
