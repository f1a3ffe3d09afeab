// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target for kmod/toa_parse.c: 2 bytes of format mask, then a block. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toa_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_found(const struct toa_addr *a, const u8 *b,
			unsigned int len, u32 formats)
{
	unsigned int at = a->offset, olen, alen, i;
	const u8 *p = b + at;

	CHECK(a->format < TOA_FMT_COUNT);
	CHECK(formats & TOA_FMT_BIT(a->format));
	CHECK(toa_format_name(a->format));
	CHECK(at + 1 < len);
	olen = p[1];
	CHECK(olen >= 2 && at + olen <= len);
	CHECK(a->family == 4 || a->family == 6);
	alen = a->family == 4 ? 4 : 16;
	/* family 4: only four address bytes are meaningful, the rest zero */
	for (i = alen; i < sizeof(a->addr); i++)
		CHECK(a->addr[i] == 0);
	/* the address ends the option, except 254/16's (at 4, VIP at 12) */
	if (a->flags & TOA_HAS_VIP) {
		CHECK(a->format == TOA_FMT_254_16 && olen == 16);
		CHECK(!memcmp(a->addr, p + 4, 4));
		CHECK(!memcmp(&a->vport, p + 10, 2));
		CHECK(!memcmp(a->vip, p + 12, 4));
	} else {
		CHECK(a->format != TOA_FMT_254_16);
		CHECK(!memcmp(a->addr, p + olen - alen, alen));
	}
	if (a->flags & TOA_HAS_PORT)
		CHECK(!memcmp(&a->port, p + 2, 2));
	else
		CHECK(a->port == 0);
	switch (a->format) {
	case TOA_FMT_28_7:
	case TOA_FMT_28_19:
		CHECK(p[2] == 1);
		break;
	case TOA_FMT_253_HOSTID:
	case TOA_FMT_254_HOSTID:
		CHECK(p[2] == 0x03 && p[3] == 0x48);
		CHECK(olen == 8 || olen == 20);
		break;
	}
}

static int walk_error(int r)
{
	return r == -TOA_E_TOO_LONG || r == -TOA_E_OPT_TRUNC ||
	       r == -TOA_E_OPT_LEN;
}

/* The module parameter parser sees user text: any bytes, NUL-terminated. */
static void check_formats(const u8 *data, size_t size)
{
	char *s = malloc(size + 1);
	u32 mask = 0xdeadbeef;
	int r;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	r = toa_parse_formats(s, &mask);
	CHECK(r == 0 || r == -1);
	CHECK(r ? mask == 0xdeadbeef : !(mask & ~TOA_FORMATS_ALL));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toa_addr a, b, none;
	unsigned int len;
	u32 formats;
	u8 *block;
	int r, r2, r0;

	check_formats(data, size);
	if (size < 2)
		return 0;
	formats = (u32)data[0] << 8 | data[1];
	len = (unsigned int)(size - 2);
	/* exact-size copy: ASan flags any read past len */
	block = malloc(len ? len : 1);
	if (!block)
		return 0;
	memcpy(block, data + 2, len);

	r = toa_parse(block, len, formats, &a);
	CHECK(r == 0 || r == 1 || (r < 0 && toa_err_name(r)));
	if (len > TOA_OPTS_MAX)
		CHECK(r == -TOA_E_TOO_LONG);
	if (r == 1)
		check_found(&a, block, len, formats);

	r2 = toa_parse(block, len, formats, &b);
	CHECK(r2 == r);
	if (r == 1)
		CHECK(!memcmp(&a, &b, sizeof(a)));

	/* nothing claimed: only the walk itself can fail */
	r0 = toa_parse(block, len, 0, &none);
	CHECK(r0 == 0 || walk_error(r0));
	/* a malformed walk fails under any mask; a sound one never does */
	CHECK(r0 < 0 ? r < 0 : !walk_error(r));
	/* bits above the known formats are ignored */
	r2 = toa_parse(block, len, formats & TOA_FORMATS_ALL, &b);
	CHECK(r2 == r);

	free(block);
	return 0;
}
