// SPDX-License-Identifier: GPL-2.0
/* Take the TOA at tcp_v{4,6}_syn_recv_sock (segment, else SYN) for the child. */
#include <linux/skbuff.h>

#include "toa_ops.h"
#include "toa_recv.h"
#include "toa_stash.h"
#include "toa_state.h"
#include "toa_stats.h"

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

/* The SYN's TOA, if the segment has none; the stash entry goes either way. */
static void toa_recv_stash(struct toa_recv_data *d, const struct sock *sk,
			   const struct sk_buff *skb, bool found)
{
	struct toa_addr syn;

	d->stashed = toa_stash_count() &&
		     toa_skb_conn(skb, sk, d->v4conn, &d->conn) &&
		     toa_stash_peek(&d->conn, &syn);
	if (d->stashed && !found) {
		d->toa = syn;
		d->from_syn = true;
	}
}

/* syn_recv_sock(sk, skb, req, dst, req_unhash, own_req[, ...]) */
static int toa_recv_entry(struct kretprobe_instance *ri, struct pt_regs *regs,
			  bool v4conn)
{
	struct toa_recv_data *d = (struct toa_recv_data *)ri->data;
	struct sock *sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	struct sk_buff *skb;
	bool found;

	skb = (struct sk_buff *)regs_get_kernel_argument(regs, 1);
	/* IPv4 on a dual-stack listener: tcp_v4_syn_recv_sock does it */
	if (!v4conn && skb->protocol == htons(ETH_P_IP))
		return 1;
	d->listener = sk;
	d->v4conn = v4conn;
	d->from_syn = false;
	found = toa_skb_toa(skb, v4conn, TOA_S_SEGMENTS, &d->toa);
	toa_recv_stash(d, sk, skb, found);
	if (!found && !d->stashed)
		return 1;
	toa_recv_count(&d->toa, v4conn);
	d->own_req = (bool *)regs_get_kernel_argument(regs, 5);
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

	/*
	 * A child whose own_req is false lost the race and is destroyed; no
	 * child (accept queue full): the ACK comes again, keep the stash.
	 */
	if (!child || !d->own_req || !*d->own_req)
		return 0;
	if (d->stashed)
		toa_stash_drop(&d->conn);
	if (toa_state_record(child, &d->toa, d->v4conn))
		return 0;
	if (d->from_syn)
		toa_stats_inc(TOA_S_STASH_HITS);
	toa_ops_listener(d->listener);
	return 0;
}
