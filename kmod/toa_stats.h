/* SPDX-License-Identifier: GPL-2.0 */
/* Per-CPU counters of what the module saw, shown in /proc/net/toa_stats. */
#ifndef TOA_STATS_H
#define TOA_STATS_H

#include <linux/percpu.h>
#include "toa_parse.h"

enum toa_stat {
	TOA_S_SEGMENTS,		/* handshake-completing segments parsed */
	TOA_S_V4,		/* IPv4 client */
	TOA_S_V6,		/* IPv6 client on an IPv6 connection */
	TOA_S_NAT64,		/* IPv6 client on an IPv4 connection */
	TOA_S_FORMAT,		/* + enum toa_format */
	TOA_S_UNTRUSTED = TOA_S_FORMAT + TOA_FMT_COUNT,
	TOA_S_MALFORMED,	/* + TOA_E_* (index 0 unused: the total) */
	TOA_S_GETNAME = TOA_S_MALFORMED + TOA_E_COUNT,
	TOA_S_ALLOC_FAILED,
	TOA_S_OPS_SWAPPED,	/* sockets given the module's proto_ops copy */
	TOA_S_ADDRFORM,		/* TOA sockets kept across IPV6_ADDRFORM */
	TOA_S_SYN_PARSED,	/* SYNs whose options were read */
	TOA_S_SYN_STASHED,	/* SYN TOAs kept for the handshake's end */
	TOA_S_STASH_HITS,	/* children given the TOA of their SYN */
	TOA_S_STASH_EXPIRED,
	TOA_S_STASH_FULL,	/* SYN TOAs refused: stash_max reached */
	TOA_S_STASH_ALLOC_FAILED,
	TOA_S_COUNT
};

struct toa_counters {
	u64 c[TOA_S_COUNT];
};

extern struct toa_counters __percpu *toa_counters;

static inline void toa_stats_inc(unsigned int stat)
{
	this_cpu_inc(toa_counters->c[stat]);
}

/*
 * Calls @fn for every line of /proc/net/toa_stats in order (@id counts from
 * 0) until it returns non-zero, which is returned.
 */
int toa_stats_walk(int (*fn)(void *arg, u32 id, const char *name, u64 value),
		   void *arg);

int toa_stats_init(void);
void toa_stats_exit(void);

#endif /* TOA_STATS_H */
