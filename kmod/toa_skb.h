/* SPDX-License-Identifier: GPL-2.0 */
/* What a received TCP segment says: its TOA and the connection it belongs to. */
#ifndef TOA_SKB_H
#define TOA_SKB_H

#include <linux/skbuff.h>
#include <net/sock.h>
#include "toa_parse.h"

/*
 * A connection as its segments name it, in the listener's network
 * namespace. Compared and hashed as bytes: build it with toa_skb_conn().
 */
struct toa_conn {
	const struct net *net;	/* compared, never dereferenced */
	u8 saddr[16];
	u8 daddr[16];
	__be16 sport;
	__be16 dport;
	u8 family;		/* 4 or 6 */
	u8 pad[3];
};

/*
 * Returns 1 with @toa filled when @skb's TCP options carry a TOA of an
 * accepted format from a trusted source; 0 otherwise. Counts @parsed once
 * the TCP header is read, and malformed and untrusted options.
 */
int toa_skb_toa(const struct sk_buff *skb, bool v4conn, unsigned int parsed,
		struct toa_addr *toa);

/* Fills @conn for @skb received on @sk; false when a header is missing. */
bool toa_skb_conn(const struct sk_buff *skb, const struct sock *sk,
		  bool v4conn, struct toa_conn *conn);

#endif /* TOA_SKB_H */
