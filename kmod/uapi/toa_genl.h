/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* toa.ko's generic netlink family "TOA": counters, configuration, lookup by 4-tuple. */
#ifndef _UAPI_TOA_GENL_H
#define _UAPI_TOA_GENL_H

#define TOA_GENL_NAME		"TOA"
#define TOA_GENL_VERSION	1

/*
 * Commands. Replies carry the request's command. Errors (errno, with an
 * extack message where one helps):
 * EINVAL  a malformed or out-of-range attribute (the message names it);
 * EPERM   SET_CONFIG without CAP_NET_ADMIN in the socket's user namespace;
 * ENOENT  LOOKUP: the connection exists but carries no TOA;
 * ESRCH   LOOKUP: no established TCP connection has that 4-tuple.
 */
enum toa_genl_cmd {
	TOA_CMD_UNSPEC,
	TOA_CMD_GET_STATS,	/* -> TOA_A_STATS; unprivileged */
	TOA_CMD_GET_CONFIG,	/* -> TRUST, FORMATS, ENABLED, STASH_*, VERSION */
	TOA_CMD_SET_CONFIG,	/* TRUST, FORMATS, ENABLED: any subset; admin */
	TOA_CMD_LOOKUP,		/* TOA_A_TUPLE -> TOA_A_PEER; unprivileged */
	__TOA_CMD_MAX,
};
#define TOA_CMD_MAX (__TOA_CMD_MAX - 1)

/* Top-level attributes. */
enum toa_genl_attr {
	TOA_A_UNSPEC,
	TOA_A_STATS,		/* nest: TOA_STATS_A_STAT, one per counter */
	TOA_A_TRUST,		/* nest: TOA_TRUST_A_CIDR, one per CIDR; empty: any source */
	TOA_A_FORMATS,		/* string, as the `formats` parameter: "254/8,254/20" */
	TOA_A_ENABLED,		/* u8: 0 getpeername() answers the LB as stock; 1 rewrite */
	TOA_A_STASH_MAX,	/* u32, the `stash_max` parameter (read only) */
	TOA_A_STASH_TTL_MS,	/* u32, the `stash_ttl_ms` parameter (read only) */
	TOA_A_VERSION,		/* string, the module version */
	TOA_A_TUPLE,		/* nest: TOA_TUPLE_A_* (LOOKUP request) */
	TOA_A_PEER,		/* nest: TOA_PEER_A_* (LOOKUP reply) */
	__TOA_A_MAX,
};
#define TOA_A_MAX (__TOA_A_MAX - 1)

/* Inside TOA_A_STATS. */
enum toa_genl_stats_attr {
	TOA_STATS_A_UNSPEC,
	TOA_STATS_A_STAT,	/* nest: TOA_STAT_A_* */
	__TOA_STATS_A_MAX,
};
#define TOA_STATS_A_MAX (__TOA_STATS_A_MAX - 1)

/* One counter: its line in /proc/net/toa_stats (ID is the line's index from 0). */
enum toa_genl_stat_attr {
	TOA_STAT_A_UNSPEC,
	TOA_STAT_A_ID,		/* u32 */
	TOA_STAT_A_NAME,	/* string: "untrusted", "toa_254/8", ... */
	TOA_STAT_A_VALUE,	/* u64 */
	TOA_STAT_A_PAD,
	__TOA_STAT_A_MAX,
};
#define TOA_STAT_A_MAX (__TOA_STAT_A_MAX - 1)

/* Inside TOA_A_TRUST. */
enum toa_genl_trust_attr {
	TOA_TRUST_A_UNSPEC,
	TOA_TRUST_A_CIDR,	/* nest: TOA_CIDR_A_* */
	__TOA_TRUST_A_MAX,
};
#define TOA_TRUST_A_MAX (__TOA_TRUST_A_MAX - 1)

enum toa_genl_cidr_attr {
	TOA_CIDR_A_UNSPEC,
	TOA_CIDR_A_FAMILY,	/* u8: AF_INET or AF_INET6 */
	TOA_CIDR_A_ADDR,	/* 4 or 16 bytes, network order */
	TOA_CIDR_A_PREFIX,	/* u8: 0..32 or 0..128 */
	__TOA_CIDR_A_MAX,
};
#define TOA_CIDR_A_MAX (__TOA_CIDR_A_MAX - 1)

/* A connection as the server sees it: local = the server, remote = the LB. */
enum toa_genl_tuple_attr {
	TOA_TUPLE_A_UNSPEC,
	TOA_TUPLE_A_FAMILY,	/* u8: AF_INET or AF_INET6 */
	TOA_TUPLE_A_LOCAL_ADDR,	/* 4 or 16 bytes */
	TOA_TUPLE_A_LOCAL_PORT,	/* u16, host order */
	TOA_TUPLE_A_REMOTE_ADDR,
	TOA_TUPLE_A_REMOTE_PORT,
	__TOA_TUPLE_A_MAX,
};
#define TOA_TUPLE_A_MAX (__TOA_TUPLE_A_MAX - 1)

/* The fields of struct toa_peer_info (uapi/toa.h); ports in host order here. */
enum toa_genl_peer_attr {
	TOA_PEER_A_UNSPEC,
	TOA_PEER_A_FAMILY,	/* u8: the client's AF_INET or AF_INET6 */
	TOA_PEER_A_ADDR,	/* 4 or 16 bytes */
	TOA_PEER_A_PORT,	/* u16, present only when the format has a port */
	TOA_PEER_A_LB_FAMILY,	/* u8 */
	TOA_PEER_A_LB_ADDR,
	TOA_PEER_A_LB_PORT,	/* u16 */
	TOA_PEER_A_FORMAT,	/* u8: enum toa_format, test/vectors/README.md order */
	TOA_PEER_A_SEEN,	/* u8: TOA_SEEN_* of uapi/toa.h */
	__TOA_PEER_A_MAX,
};
#define TOA_PEER_A_MAX (__TOA_PEER_A_MAX - 1)

#endif /* _UAPI_TOA_GENL_H */
