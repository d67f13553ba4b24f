// SPDX-License-Identifier: Apache-2.0
/* Go crypto/tls helpers: the .go.buildinfo version (cut at every point,
 * against a guard page), Go version numbers, RET instructions found by
 * decoding x86-64 (never by looking for 0xc3 bytes) with capstone mapped
 * only meanwhile, and files that are not Go binaries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard.h"
#include "tls.h"

/* A Go 1.18+ build info section: 32-byte header (magic, pointer size,
 * flags with the inline-strings bit), then length-prefixed strings. */
static size_t buildinfo(uint8_t *b, const char *version, const char *mod, uint8_t flags)
{
	size_t n = 0, vl = strlen(version), ml = strlen(mod);

	memset(b, 0, 32);
	memcpy(b, "\xff Go buildinf:", 14);
	b[14] = 8;
	b[15] = flags;
	n = 32;
	b[n++] = (uint8_t)vl;
	memcpy(b + n, version, vl);
	n += vl;
	/* A module line longer than 127 bytes: a two-byte uvarint. */
	b[n++] = (uint8_t)(ml | 0x80);
	b[n++] = (uint8_t)(ml >> 7);
	memcpy(b + n, mod, ml);
	return n + ml;
}

static void test_buildinfo(void **state)
{
	char mod[200], out[48];
	uint8_t b[512];
	struct guard g;
	size_t len;

	(void)state;
	memset(mod, 'm', sizeof(mod) - 1);
	mod[sizeof(mod) - 1] = '\0';
	len = buildinfo(b, "go1.19.8", mod, 2);
	guard_init(&g, sizeof(b));
	for (size_t cut = 0; cut <= len; cut++) {
		const uint8_t *p = guard_put(&g, b, cut);
		int r = tls_go_buildinfo_version(p, cut, out, sizeof(out));

		/* The version is whole once its bytes are there. */
		if (cut >= 32 + 1 + 8) {
			assert_int_equal(r, 1);
			assert_string_equal(out, "go1.19.8");
		} else {
			assert_int_equal(r, -1);
		}
	}
	/* Before Go 1.18: pointers, no inline strings. */
	len = buildinfo(b, "go1.17.13", "", 0);
	assert_int_equal(tls_go_buildinfo_version(b, len, out, sizeof(out)), 0);
	/* Not build info. */
	len = buildinfo(b, "go1.19.8", "", 2);
	b[1] = 'X';
	assert_int_equal(tls_go_buildinfo_version(b, len, out, sizeof(out)), -1);
	/* A version longer than the room for it. */
	len = buildinfo(b, "go1.19.8", "", 2);
	assert_int_equal(tls_go_buildinfo_version(b, len, out, 8), -1);
	assert_int_equal(tls_go_buildinfo_version(b, len, out, 9), 1);
	assert_string_equal(out, "go1.19.8");
	guard_free(&g);
}

static void test_version_minor(void **state)
{
	(void)state;
	assert_int_equal(tls_go_version_minor("go1.19.8"), 19);
	assert_int_equal(tls_go_version_minor("go1.17"), 17);
	assert_int_equal(tls_go_version_minor("go1.21rc2"), 21);
	assert_int_equal(tls_go_version_minor("go1.22.0 X:boringcrypto"), 22);
	assert_int_equal(tls_go_version_minor("go1.16.15"), 16);
	assert_int_equal(tls_go_version_minor("devel go1.23-abcdef"), -1);
	assert_int_equal(tls_go_version_minor("go1."), -1);
	assert_int_equal(tls_go_version_minor(""), -1);
	assert_int_equal(tls_go_version_minor("go2.0"), -1);
}

/* Whether libcapstone is mapped into this process now. */
static bool capstone_mapped(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "libcapstone") != NULL;
	fclose(f);
	return found;
}

static void test_find_rets(void **state)
{
	static const uint8_t code[] = {
		0x49, 0x3b, 0x66, 0x10,			/* 0: cmp rsp, [r14+0x10] */
		0xb8, 0xc3, 0x00, 0x00, 0x00,		/* 4: mov eax, 0xc3 */
		0x48, 0x8d, 0x05, 0xc3, 0xc3, 0x00, 0x00, /* 9: lea rax, [rip+0xc3c3] */
		0xc3,					/* 16: ret */
		0x48, 0x89, 0xc3,			/* 17: mov rbx, rax */
		0x0f, 0x1f, 0x40, 0x00,			/* 20: nop dword [rax] */
		0xc3,					/* 24: ret */
		0xcc, 0xcc,				/* 25: int3 padding */
	};
	uint64_t rets[4];
	struct guard g;
	const uint8_t *p;

	(void)state;
	/* capstone is loaded only while code is decoded. */
	assert_false(capstone_mapped());
	guard_init(&g, sizeof(code));
	p = guard_put(&g, code, sizeof(code));
	assert_int_equal(tls_go_find_rets(p, sizeof(code), 0x401000, rets, 4), 2);
	assert_false(capstone_mapped());
	assert_int_equal(rets[0], 0x401000 + 16);
	assert_int_equal(rets[1], 0x401000 + 24);
	/* More RETs than room for them. */
	assert_int_equal(tls_go_find_rets(p, sizeof(code), 0x401000, rets, 1), -E2BIG);
	/* Cut inside an instruction: its end cannot be decoded, and a RET
	 * could hide past it. */
	p = guard_put(&g, code, 11);
	assert_int_equal(tls_go_find_rets(p, 11, 0, rets, 4), -EILSEQ);
	/* No RET at all. */
	p = guard_put(&g, code, 9);
	assert_int_equal(tls_go_find_rets(p, 9, 0, rets, 4), 0);
	guard_free(&g);
}

static void test_not_go(void **state)
{
	char path[] = "/tmp/kspan-test-tls-go-XXXXXX";
	struct tls_go go;
	int fd;

	(void)state;
	/* An ELF that is not a Go binary: this test's own executable. */
	assert_int_equal(tls_go_inspect("/proc/self/exe", &go), 0);
	/* Not an ELF, and no file at all. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	assert_int_equal(tls_go_inspect(path, &go), 0);
	unlink(path);
	assert_int_equal(tls_go_inspect(path, &go), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buildinfo),
		cmocka_unit_test(test_version_minor),
		cmocka_unit_test(test_find_rets),
		cmocka_unit_test(test_not_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
