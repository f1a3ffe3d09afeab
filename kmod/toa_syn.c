// SPDX-License-Identifier: GPL-2.0
/* Stash the TOA of each SYN at tcp_v{4,6}_conn_request for the handshake's end. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/skbuff.h>

#include "toa_skb.h"
#include "toa_stash.h"
#include "toa_stats.h"
#include "toa_syn.h"

/*
 * conn_request(sk, skb), at entry: before the SYN-ACK leaves, so the ACK
 * that answers it cannot reach syn_recv_sock ahead of the stash.
 */
static void toa_syn_seen(struct pt_regs *regs, bool v4conn)
{
	struct sock *sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	struct sk_buff *skb;
	struct toa_conn conn;
	struct toa_addr toa;

	skb = (struct sk_buff *)regs_get_kernel_argument(regs, 1);
	/* IPv4 on a dual-stack listener: tcp_v4_conn_request sees it next */
	if (!v4conn && skb->protocol == htons(ETH_P_IP))
		return;
	if (!toa_stash_enabled())
		return;
	if (toa_skb_toa(skb, v4conn, TOA_S_SYN_PARSED, &toa)) {
		if (toa_skb_conn(skb, sk, v4conn, &conn))
			toa_stash_put(&conn, &toa);
		return;
	}
	/* the newest SYN of a 4-tuple speaks for it: forget an older TOA */
	if (toa_stash_count() && toa_skb_conn(skb, sk, v4conn, &conn))
		toa_stash_drop(&conn);
}

static int toa_syn_pre4(struct kprobe *kp, struct pt_regs *regs)
{
	toa_syn_seen(regs, true);
	return 0;
}

static int toa_syn_pre6(struct kprobe *kp, struct pt_regs *regs)
{
	toa_syn_seen(regs, false);
	return 0;
}

static struct kprobe toa_syn_kps[] = {
	{ .symbol_name = "tcp_v4_conn_request", .pre_handler = toa_syn_pre4 },
	{ .symbol_name = "tcp_v6_conn_request", .pre_handler = toa_syn_pre6 },
};

static struct kprobe *toa_syn_list[] = { &toa_syn_kps[0], &toa_syn_kps[1] };

int toa_syn_register(void)
{
	int err = register_kprobes(toa_syn_list, ARRAY_SIZE(toa_syn_list));

	if (err)
		pr_err("cannot probe tcp_v4_conn_request/tcp_v6_conn_request: %d\n",
		       err);
	return err;
}

void toa_syn_unregister(void)
{
	unregister_kprobes(toa_syn_list, ARRAY_SIZE(toa_syn_list));
}

unsigned long toa_syn_missed(void)
{
	return toa_syn_kps[0].nmissed + toa_syn_kps[1].nmissed;
}
