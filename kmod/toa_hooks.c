// SPDX-License-Identifier: GPL-2.0
/* Probe registration: parse at handshake, swap proto_ops at listen/accept, forget at destruct. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/in6.h>
#include <linux/kprobes.h>
#include <linux/socket.h>

#include "toa_hooks.h"
#include "toa_ops.h"
#include "toa_recv.h"
#include "toa_state.h"
#include "toa_stats.h"

/* inet6_sock_destruct ends here too, so one probe covers both families */
static int toa_destruct_pre(struct kprobe *kp, struct pt_regs *regs)
{
	toa_state_forget((struct sock *)regs_get_kernel_argument(regs, 0));
	return 0;
}

static bool toa_hooks_tcp(const struct sock *sk)
{
	return sk && sk->sk_protocol == IPPROTO_TCP;
}

/*
 * security_sock_graft(sk, parent) runs inside sock_graft() at every kernel's
 * inet_accept, after newsock->ops is set and before the fd exists. Children
 * inherit the listener's ops: only those with a TOA keep the copy.
 */
static int toa_graft_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)regs_get_kernel_argument(regs, 0);
	struct socket *sock = (struct socket *)regs_get_kernel_argument(regs, 1);
	struct toa_addr toa;

	if (sock && toa_hooks_tcp(sk))
		toa_ops_set(sock, toa_state_lookup(sk, &toa));
	return 0;
}

/* inet_listen(sock, backlog): 6.12+ do_accept asks the listener's getname */
static int toa_listen_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct socket *sock = (struct socket *)regs_get_kernel_argument(regs, 0);

	if (toa_hooks_tcp(sock->sk))
		toa_ops_set(sock, true);
	return 0;
}

static struct kprobe toa_kps[] = {
	{ .symbol_name = "inet_sock_destruct", .pre_handler = toa_destruct_pre },
	{ .symbol_name = "security_sock_graft", .pre_handler = toa_graft_pre },
	{ .symbol_name = "inet_listen", .pre_handler = toa_listen_pre },
};

static struct kprobe *toa_kp_list[] = { &toa_kps[0], &toa_kps[1], &toa_kps[2] };

/* ipv6_setsockopt(sk, level, optname, ...) */
static int toa_addrform_entry(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	if (regs_get_kernel_argument(regs, 1) != SOL_IPV6 ||
	    regs_get_kernel_argument(regs, 2) != IPV6_ADDRFORM)
		return 1;
	*(struct sock **)ri->data =
		(struct sock *)regs_get_kernel_argument(regs, 0);
	return 0;
}

/* IPV6_ADDRFORM installed the stock inet_stream_ops: a TOA socket keeps its client */
static int toa_addrform_return(struct kretprobe_instance *ri,
			       struct pt_regs *regs)
{
	struct sock *sk = *(struct sock **)ri->data;
	struct toa_addr toa;

	if (regs_return_value(regs) || READ_ONCE(sk->sk_family) != AF_INET ||
	    !sk->sk_socket || !toa_state_lookup(sk, &toa))
		return 0;
	toa_ops_set(sk->sk_socket, true);
	toa_stats_inc(TOA_S_ADDRFORM);
	return 0;
}

static struct kretprobe toa_rps[] = {
	{
		.kp.symbol_name = "tcp_v4_syn_recv_sock",
		.entry_handler = toa_recv_entry4,
		.handler = toa_recv_return,
		.data_size = sizeof(struct toa_recv_data),
	},
	{
		.kp.symbol_name = "tcp_v6_syn_recv_sock",
		.entry_handler = toa_recv_entry6,
		.handler = toa_recv_return,
		.data_size = sizeof(struct toa_recv_data),
	},
	{
		.kp.symbol_name = "ipv6_setsockopt",
		.entry_handler = toa_addrform_entry,
		.handler = toa_addrform_return,
		.data_size = sizeof(struct sock *),
	},
};

static struct kretprobe *toa_rp_list[] = { &toa_rps[0], &toa_rps[1], &toa_rps[2] };

int toa_hooks_register(void)
{
	unsigned int i;
	int err;

	/* removal first: no entry may be recorded that nothing would free */
	err = register_kprobes(toa_kp_list, ARRAY_SIZE(toa_kp_list));
	if (err) {
		pr_err("cannot probe inet_sock_destruct, security_sock_graft or inet_listen: %d\n",
		       err);
		return err;
	}
	/* the default maxactive silently drops returns under concurrency */
	for (i = 0; i < ARRAY_SIZE(toa_rps); i++)
		toa_rps[i].maxactive = 64 * num_possible_cpus();
	err = register_kretprobes(toa_rp_list, ARRAY_SIZE(toa_rp_list));
	if (err) {
		pr_err("cannot probe tcp_v{4,6}_syn_recv_sock or ipv6_setsockopt: %d\n",
		       err);
		unregister_kprobes(toa_kp_list, ARRAY_SIZE(toa_kp_list));
	}
	return err;
}

void toa_hooks_unregister(void)
{
	unregister_kretprobes(toa_rp_list, ARRAY_SIZE(toa_rp_list));
	unregister_kprobes(toa_kp_list, ARRAY_SIZE(toa_kp_list));
}

unsigned long toa_hooks_missed(void)
{
	unsigned long missed = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_kps); i++)
		missed += toa_kps[i].nmissed;
	for (i = 0; i < ARRAY_SIZE(toa_rps); i++)
		missed += toa_rps[i].nmissed + toa_rps[i].kp.nmissed;
	return missed;
}
