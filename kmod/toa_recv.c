// SPDX-License-Identifier: GPL-2.0
/* Parse the TOA at tcp_v{4,6}_syn_recv_sock and record it for the child. */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>

#include "toa_main.h"
#include "toa_ops.h"
#include "toa_recv.h"
#include "toa_state.h"
#include "toa_stats.h"
#include "toa_trust.h"

/* Source address of the segment; false when the header is not there. */
static bool toa_recv_source(const struct sk_buff *skb, bool v4conn,
			    int *family, u8 *addr)
{
	int off = skb_network_offset(skb);

	if (v4conn) {
		const struct iphdr *ip;
		struct iphdr _ip;

		ip = skb_header_pointer(skb, off, sizeof(_ip), &_ip);
		if (!ip)
			return false;
		memcpy(addr, &ip->saddr, 4);
		*family = 4;
	} else {
		const struct ipv6hdr *ip6;
		struct ipv6hdr _ip6;

		ip6 = skb_header_pointer(skb, off, sizeof(_ip6), &_ip6);
		if (!ip6)
			return false;
		memcpy(addr, &ip6->saddr, 16);
		*family = 6;
	}
	return true;
}

static void toa_recv_count(const struct toa_addr *toa, bool v4conn)
{
	if (toa->family == 4)
		toa_stats_inc(TOA_S_V4);
	else if (v4conn)
		toa_stats_inc(TOA_S_NAT64);
	else
		toa_stats_inc(TOA_S_V6);
	toa_stats_inc(TOA_S_FORMAT + toa->format);
}

/* Returns 1 with @toa filled when the segment carries a trusted TOA. */
static int toa_recv_parse(const struct sk_buff *skb, bool v4conn,
			  struct toa_addr *toa)
{
	u8 _opt[TOA_OPTS_MAX], src[16];
	const struct tcphdr *th;
	struct tcphdr _th;
	unsigned int optlen;
	int off = skb_transport_offset(skb);
	const u8 *opt;
	int family, ret;

	th = skb_header_pointer(skb, off, sizeof(_th), &_th);
	if (!th || th->doff * 4 < sizeof(_th))
		return 0;
	toa_stats_inc(TOA_S_SEGMENTS);
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
	if (!toa_recv_source(skb, v4conn, &family, src))
		return 0;
	if (!toa_trust_allows(family, src)) {
		toa_stats_inc(TOA_S_UNTRUSTED);
		return 0;
	}
	toa_recv_count(toa, v4conn);
	return 1;
}

/* syn_recv_sock(sk, skb, req, dst, req_unhash, own_req[, ...]) */
static int toa_recv_entry(struct kretprobe_instance *ri, struct pt_regs *regs,
			  bool v4conn)
{
	struct toa_recv_data *d = (struct toa_recv_data *)ri->data;
	struct sk_buff *skb;

	skb = (struct sk_buff *)regs_get_kernel_argument(regs, 1);
	/* IPv4 on a dual-stack listener: tcp_v4_syn_recv_sock does it */
	if (!v4conn && skb->protocol == htons(ETH_P_IP))
		return 1;
	if (!toa_recv_parse(skb, v4conn, &d->toa))
		return 1;
	d->listener = (struct sock *)regs_get_kernel_argument(regs, 0);
	d->own_req = (bool *)regs_get_kernel_argument(regs, 5);
	d->v4conn = v4conn;
	return 0;
}

int toa_recv_entry4(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return toa_recv_entry(ri, regs, true);
}

int toa_recv_entry6(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return toa_recv_entry(ri, regs, false);
}

int toa_recv_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct toa_recv_data *d = (struct toa_recv_data *)ri->data;
	struct sock *child = (struct sock *)regs_return_value(regs);

	/* a child whose own_req is false lost the race and is destroyed */
	if (child && d->own_req && *d->own_req &&
	    !toa_state_record(child, &d->toa, d->v4conn))
		toa_ops_listener(d->listener);
	return 0;
}
