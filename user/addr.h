/* SPDX-License-Identifier: Apache-2.0 */
#ifndef __KSPAN_ADDR_H
#define __KSPAN_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_STRLEN 46	/* INET6_ADDRSTRLEN */

/* Text form of a 16-byte address; IPv4-mapped addresses print as IPv4.
 * Returns the length written (buf is NUL-terminated). */
size_t addr_fmt(const uint8_t a[16], char *buf, size_t len);

#endif /* __KSPAN_ADDR_H */
