// SPDX-License-Identifier: GPL-2.0
/* Read the TOA and the connection of a received segment (SYN or handshake end). */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>

#include "toa_main.h"
#include "toa_skb.h"
#include "toa_stats.h"
#include "toa_trust.h"
#include "uapi/toa.h"

/* Source and destination addresses; false when the header is not there. */
static bool toa_skb_addrs(const struct sk_buff *skb, bool v4conn,
			  u8 *saddr, u8 *daddr)
{
	int off = skb_network_offset(skb);

	if (v4conn) {
		const struct iphdr *ip;
		struct iphdr _ip;

		ip = skb_header_pointer(skb, off, sizeof(_ip), &_ip);
		if (!ip)
			return false;
		memcpy(saddr, &ip->saddr, 4);
		memcpy(daddr, &ip->daddr, 4);
	} else {
		const struct ipv6hdr *ip6;
		struct ipv6hdr _ip6;

		ip6 = skb_header_pointer(skb, off, sizeof(_ip6), &_ip6);
		if (!ip6)
			return false;
		memcpy(saddr, &ip6->saddr, 16);
		memcpy(daddr, &ip6->daddr, 16);
	}
	return true;
}

int toa_skb_toa(const struct sk_buff *skb, bool v4conn, unsigned int parsed,
		struct toa_addr *toa)
{
	u8 _opt[TOA_OPTS_MAX], src[16], dst[16];
	const struct tcphdr *th;
	struct tcphdr _th;
	unsigned int optlen;
	int off = skb_transport_offset(skb);
	const u8 *opt;
	int ret;

	th = skb_header_pointer(skb, off, sizeof(_th), &_th);
	if (!th || th->doff * 4 < sizeof(_th))
		return 0;
	toa_stats_inc(parsed);
	optlen = th->doff * 4 - sizeof(_th);
	if (!optlen)
		return 0;
	/* doff is 4 bits: optlen <= TOA_OPTS_MAX */
	opt = skb_header_pointer(skb, off + sizeof(_th), optlen, _opt);
	if (!opt)
		return 0;

	ret = toa_parse(opt, optlen, toa_formats(), toa);
	if (ret < 0) {
		toa_stats_inc(TOA_S_MALFORMED - ret);
		return 0;
	}
	if (!ret)
		return 0;
	if (!toa_skb_addrs(skb, v4conn, src, dst))
		return 0;
	if (!toa_trust_allows(v4conn ? 4 : 6, src)) {
		toa_stats_inc(TOA_S_UNTRUSTED);
		return 0;
	}
	if (th->syn)
		toa->seen = TOA_SEEN_SYN;
	else	/* the completing ACK may already carry the first data */
		toa->seen = skb->len > off + th->doff * 4 ?
			    TOA_SEEN_DATA : TOA_SEEN_ACK;
	return 1;
}

bool toa_skb_conn(const struct sk_buff *skb, const struct sock *sk,
		  bool v4conn, struct toa_conn *conn)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	memset(conn, 0, sizeof(*conn));
	th = skb_header_pointer(skb, skb_transport_offset(skb), sizeof(_th),
				&_th);
	if (!th || !toa_skb_addrs(skb, v4conn, conn->saddr, conn->daddr))
		return false;
	conn->net = sock_net(sk);
	conn->sport = th->source;
	conn->dport = th->dest;
	conn->family = v4conn ? 4 : 6;
	return true;
}
