// SPDX-License-Identifier: GPL-2.0
/* TOA option parser shared by the kernel module and the userspace tests. */
#ifdef __KERNEL__
#include <linux/string.h>
#else
#include <string.h>
#endif

#include "toa_parse.h"

#define TOA_KIND_EOL	0
#define TOA_KIND_NOP	1
#define TOA_KIND_UTO	28	/* IANA User Timeout, shared with Alibaba CDN */
#define TOA_EXID_HI	0x03	/* RFC 7974 HOST_ID ExID 0x0348 */
#define TOA_EXID_LO	0x48
#define TOA_VERSIONED	0x80	/* toa_fmt.flags: version byte 1 at offset 2 */

struct toa_fmt {
	const char *name;
	u8 kind;
	u8 len;		/* 0: host id, option length 8 or 20 */
	u8 addr_at;	/* offset of the client address in the option */
	u8 flags;	/* TOA_HAS_*, TOA_VERSIONED */
};

static const struct toa_fmt toa_fmts[TOA_FMT_COUNT] = {
	[TOA_FMT_254_8]		= { "254/8", 254, 8, 4, TOA_HAS_PORT },
	[TOA_FMT_254_20]	= { "254/20", 254, 20, 4, TOA_HAS_PORT },
	[TOA_FMT_253_20]	= { "253/20", 253, 20, 4, TOA_HAS_PORT },
	[TOA_FMT_200_8]		= { "200/8", 200, 8, 4, TOA_HAS_PORT },
	[TOA_FMT_252_8]		= { "252/8", 252, 8, 4, TOA_HAS_PORT },
	[TOA_FMT_253_8]		= { "253/8", 253, 8, 4, TOA_HAS_PORT },
	[TOA_FMT_28_7]		= { "28/7", 28, 7, 3, TOA_VERSIONED },
	[TOA_FMT_28_19]		= { "28/19", 28, 19, 3, TOA_VERSIONED },
	[TOA_FMT_254_16]	= { "254/16", 254, 16, 4,
				    TOA_HAS_PORT | TOA_HAS_VIP },
	[TOA_FMT_253_HOSTID]	= { "253/hostid", 253, 0, 4, 0 },
	[TOA_FMT_254_HOSTID]	= { "254/hostid", 254, 0, 4, 0 },
};

static const char *const toa_errs[TOA_E_COUNT] = {
	[TOA_E_TOO_LONG]	= "too-long",
	[TOA_E_OPT_TRUNC]	= "opt-trunc",
	[TOA_E_OPT_LEN]		= "opt-len",
	[TOA_E_TOA_LEN]		= "toa-len",
	[TOA_E_TOA_DUP]		= "toa-dup",
	[TOA_E_TOA_VERSION]	= "toa-version",
	[TOA_E_HOSTID_LEN]	= "hostid-len",
};

const char *toa_format_name(int format)
{
	if (format < 0 || format >= TOA_FMT_COUNT)
		return NULL;
	return toa_fmts[format].name;
}

const char *toa_err_name(int err)
{
	if (err < 0)
		err = -err;
	if (err < TOA_E_TOO_LONG || err >= TOA_E_COUNT)
		return NULL;
	return toa_errs[err];
}

/*
 * Decode one option whose length @olen (>= 2) is known to fit in the block.
 * Returns 1 and fills @a when it is a TOA, 0 when it is not ours, -TOA_E_*.
 */
static int toa_option(const u8 *p, unsigned int olen, u32 formats,
		      struct toa_addr *a)
{
	const struct toa_fmt *f;
	int hostid = -1, fixed = -1, claimed = 0;
	unsigned int alen;
	int i;

	for (i = 0; i < TOA_FMT_COUNT; i++) {
		if (!(formats & TOA_FMT_BIT(i)) || toa_fmts[i].kind != p[0])
			continue;
		claimed = 1;
		if (!toa_fmts[i].len)
			hostid = i;
		else if (toa_fmts[i].len == olen)
			fixed = i;
	}
	if (!claimed)
		return 0;

	if (hostid >= 0 && olen >= 4 &&
	    p[2] == TOA_EXID_HI && p[3] == TOA_EXID_LO) {
		if (olen != 4 + 4 && olen != 4 + 16)
			return -TOA_E_HOSTID_LEN;
		i = hostid;
	} else if (fixed >= 0) {
		/* versioned formats are 7 or 19 long: p[2] is inside */
		if ((toa_fmts[fixed].flags & TOA_VERSIONED) && p[2] != 1)
			return -TOA_E_TOA_VERSION;
		i = fixed;
	} else if (p[0] == TOA_KIND_UTO) {
		return 0;	/* a real User Timeout (len 4) or unknown */
	} else {
		return -TOA_E_TOA_LEN;	/* never guess a length */
	}

	f = &toa_fmts[i];
	alen = (f->flags & TOA_HAS_VIP) ? 4 : olen - f->addr_at;
	a->family = alen == 4 ? 4 : 6;
	a->format = i;
	a->flags = f->flags & (TOA_HAS_PORT | TOA_HAS_VIP);
	memcpy(a->addr, p + f->addr_at, alen);
	if (f->flags & TOA_HAS_PORT)
		memcpy(&a->port, p + 2, 2);
	/* 254/16 (ByteDance): 2 bytes of padding follow the client */
	if (f->flags & TOA_HAS_VIP) {
		memcpy(&a->vport, p + 10, 2);
		memcpy(a->vip, p + 12, 4);
	}
	return 1;
}

int toa_parse(const u8 *opt, unsigned int len, u32 formats,
	      struct toa_addr *out)
{
	unsigned int i = 0, olen;
	int found = 0, ret;

	memset(out, 0, sizeof(*out));
	if (len > TOA_OPTS_MAX)
		return -TOA_E_TOO_LONG;
	formats &= TOA_FORMATS_ALL;

	while (i < len) {
		if (opt[i] == TOA_KIND_EOL)
			break;
		if (opt[i] == TOA_KIND_NOP) {
			i++;
			continue;
		}
		/* kind is the last byte: no length to read */
		if (i + 1 >= len)
			return -TOA_E_OPT_TRUNC;
		olen = opt[i + 1];
		/* zero/one-length options: would never make progress */
		if (olen < 2)
			return -TOA_E_OPT_LEN;
		/* from here on p[0..olen-1] is inside the block */
		if (olen > len - i)
			return -TOA_E_OPT_TRUNC;
		ret = toa_option(opt + i, olen, formats, out);
		if (ret < 0)
			return ret;
		if (ret) {
			/* out holds the second one now: the error voids it */
			if (found)
				return -TOA_E_TOA_DUP;
			found = 1;
			out->offset = i;
		}
		i += olen;
	}
	return found;
}

static int toa_format_lookup(const char *name, unsigned int n)
{
	int i;

	for (i = 0; i < TOA_FMT_COUNT; i++)
		if (strlen(toa_fmts[i].name) == n &&
		    !strncmp(toa_fmts[i].name, name, n))
			return i;
	return -1;
}

static int toa_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

int toa_parse_formats(const char *list, u32 *mask)
{
	const char *end;
	unsigned int n;
	u32 m = 0;
	int f;

	for (;;) {
		while (toa_space(*list))
			list++;
		for (end = list; *end && *end != ','; end++)
			;
		for (n = end - list; n && toa_space(list[n - 1]); n--)
			;
		if (n) {
			f = toa_format_lookup(list, n);
			if (f < 0)
				return -1;
			m |= TOA_FMT_BIT(f);
		}
		if (!*end)
			break;
		list = end + 1;
	}
	*mask = m;
	return 0;
}
