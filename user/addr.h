/* SPDX-License-Identifier: Apache-2.0 */
#ifndef __KSPAN_ADDR_H
#define __KSPAN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_STRLEN 46	/* INET6_ADDRSTRLEN */

/* Text form of a 16-byte address; IPv4-mapped addresses print as IPv4.
 * Returns the length written (buf is NUL-terminated). */
size_t addr_fmt(const uint8_t a[16], char *buf, size_t len);
/* An IPv4-mapped address (::ffff:a.b.c.d), the form IPv4 is kept in. */
bool addr_is_v4(const uint8_t a[16]);
bool addr_is_zero(const uint8_t a[16]);

#endif /* __KSPAN_ADDR_H */
