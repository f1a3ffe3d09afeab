/* SPDX-License-Identifier: GPL-2.0 */
/* Decode the client address a FullNAT load balancer put in a TCP option. */
#ifndef TOA_PARSE_H
#define TOA_PARSE_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef __be16 toa_be16;
#else
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint16_t toa_be16;
#endif

/* Bit numbers of the accepted-formats mask; test/vectors/README.md order. */
enum toa_format {
	TOA_FMT_254_8,		/* port, IPv4 */
	TOA_FMT_254_20,		/* port, IPv6 (also NAT64) */
	TOA_FMT_253_20,		/* port, IPv6 */
	TOA_FMT_200_8,		/* port, IPv4 */
	TOA_FMT_252_8,		/* port, IPv4 */
	TOA_FMT_253_8,		/* port, IPv4 */
	TOA_FMT_28_7,		/* version 1, IPv4, no port */
	TOA_FMT_28_19,		/* version 1, IPv6, no port */
	TOA_FMT_254_16,		/* port, IPv4, pad(2), VIP port, VIP */
	TOA_FMT_253_HOSTID,	/* RFC 7974 ExID 0x0348, IPv4/IPv6, no port */
	TOA_FMT_254_HOSTID,	/* RFC 7974 ExID 0x0348, IPv4/IPv6, no port */
	TOA_FMT_COUNT
};

#define TOA_FMT_BIT(f)		(1U << (f))
#define TOA_FORMATS_ALL		(TOA_FMT_BIT(TOA_FMT_COUNT) - 1)
#define TOA_FORMATS_DEFAULT	(TOA_FMT_BIT(TOA_FMT_254_8) | \
				 TOA_FMT_BIT(TOA_FMT_254_20))

/* TCP options space after the fixed header: (15 - 5) * 4. */
#define TOA_OPTS_MAX		40

/* toa_parse() returns -TOA_E_*; names are the README "reason" strings. */
enum toa_err {
	TOA_E_TOO_LONG = 1,	/* too-long */
	TOA_E_OPT_TRUNC,	/* opt-trunc */
	TOA_E_OPT_LEN,		/* opt-len */
	TOA_E_TOA_LEN,		/* toa-len */
	TOA_E_TOA_DUP,		/* toa-dup */
	TOA_E_TOA_VERSION,	/* toa-version */
	TOA_E_HOSTID_LEN,	/* hostid-len */
	TOA_E_COUNT
};

#define TOA_HAS_PORT	0x01	/* port is valid */
#define TOA_HAS_VIP	0x02	/* vport and vip are valid (254/16) */

/*
 * One decoded TOA, 30 bytes. Ports stay in network order so they can be
 * copied into a sockaddr as they are. For family 4 only addr[0..3] is
 * meaningful (the rest is zero).
 */
struct toa_addr {
	u8 family;		/* 4 or 6 */
	u8 format;		/* enum toa_format */
	u8 offset;		/* of the kind byte in the options block */
	u8 flags;		/* TOA_HAS_* */
	toa_be16 port;
	toa_be16 vport;
	u8 addr[16];
	u8 vip[4];
	u8 seen;		/* TOA_SEEN_* of uapi/toa.h, set by the caller */
};

/*
 * Walk @len bytes of TCP options (those after the 20-byte header) looking
 * for a TOA of one of the @formats (mask of TOA_FMT_BIT()). Returns 1 and
 * fills @out when one is found, 0 when there is none, -TOA_E_* when the
 * block is malformed (which means "no TOA"). @out is only meaningful after 1.
 */
int toa_parse(const u8 *opt, unsigned int len, u32 formats,
	      struct toa_addr *out);

/*
 * Turn "254/8,254/20" into a mask, as src/wire parseFormats() does: blanks
 * around names and empty items are ignored, so "" is the empty mask and a
 * sysfs write's newline is harmless. Returns 0, or -1 on an unknown name,
 * leaving @mask untouched.
 */
int toa_parse_formats(const char *list, u32 *mask);

/* "254/8", ...; NULL when out of range. */
const char *toa_format_name(int format);

/* "too-long", ... for TOA_E_* or -TOA_E_*; NULL when out of range. */
const char *toa_err_name(int err);

#endif /* TOA_PARSE_H */
