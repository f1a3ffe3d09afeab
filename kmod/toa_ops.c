// SPDX-License-Identifier: GPL-2.0
/* Module-owned copies of the TCP stream proto_ops whose getname answers for TOA sockets. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <net/sock.h>
#include <net/inet_common.h>
#include <net/ipv6.h>

#include "toa_getname.h"
#include "toa_ops.h"
#include "toa_stats.h"

enum { TOA_OPS_V4, TOA_OPS_V6, TOA_OPS_COUNT };

/*
 * A copy may be loaded by a caller long before it is called (do_accept holds
 * the listener's across a blocking accept; __sock_release sleeps between
 * loading sock->ops and ->release), so a copy that was ever installed is
 * never freed: at unload it is made a faithful stock ops and leaked
 * (sizeof(struct proto_ops) bytes per family per unload).
 */
struct toa_ops {
	const struct proto_ops *stock;	/* NULL: IPv6 disabled */
	const struct proto_ops *copy;	/* module memory, written only here */
	bool installed;
	int (*getname)(struct socket *sock, struct sockaddr *uaddr, int peer);
};

static struct toa_ops toa_ops[TOA_OPS_COUNT] = {
	[TOA_OPS_V4] = { .getname = toa_getname4 },
	[TOA_OPS_V6] = { .getname = toa_getname6 },
};

/* Points the copy's getname at @fn; callers may be reading it meanwhile. */
static void toa_ops_getname(struct toa_ops *o, typeof(o->getname) fn)
{
	typeof(o->getname) *slot = (typeof(o->getname) *)&o->copy->getname;

	WRITE_ONCE(*slot, fn);
}

static void toa_ops_fill(struct toa_ops *o, const struct proto_ops *stock)
{
	memcpy((void *)o->copy, stock, sizeof(*stock));
	toa_ops_getname(o, o->getname);
	o->stock = stock;
}

/* inet6_stream_ops is not exported everywhere: a kernel socket of ours has it. */
static const struct proto_ops *toa_ops_inet6_stream(void)
{
	const struct proto_ops *ops;
	struct socket *sock;

	if (sock_create_kern(&init_net, PF_INET6, SOCK_STREAM, IPPROTO_TCP,
			     &sock))
		return NULL;	/* IPv6 disabled: only IPv4 sockets are served */
	ops = sock->ops;
	sock_release(sock);
	return ops;
}

/*
 * The family whose copy fits @ops; NULL for ops that are not ours to touch
 * (MPTCP's share getname with TCP's). A previous load's copy, left
 * stock-faithful at its unload, still counts as stock.
 */
static struct toa_ops *toa_ops_of(const struct proto_ops *ops)
{
	struct toa_ops *o;

	for (o = toa_ops; o < toa_ops + TOA_OPS_COUNT; o++)
		if (o->stock && (ops == o->stock || ops == o->copy))
			return o;
	for (o = toa_ops; o < toa_ops + TOA_OPS_COUNT; o++)
		if (o->stock && ops->getname == o->stock->getname &&
		    !memcmp(ops, o->stock, sizeof(*ops)))
			return o;
	return NULL;
}

void toa_ops_set(struct socket *sock, bool toa)
{
	const struct proto_ops *ops = READ_ONCE(sock->ops);
	struct toa_ops *o;

	if (!ops || sock->type != SOCK_STREAM)
		return;
	o = toa_ops_of(ops);
	if (!o)
		return;
	if (!toa) {
		if (ops != o->stock)
			WRITE_ONCE(sock->ops, o->stock);
		return;
	}
	if (ops == o->copy)
		return;
	WRITE_ONCE(o->installed, true);
	WRITE_ONCE(sock->ops, o->copy);
	toa_stats_inc(TOA_S_OPS_SWAPPED);
}

/*
 * Softirq, listener not locked: sock_orphan() clears sk_socket under the
 * write side of sk_callback_lock before the socket can be freed.
 */
void toa_ops_listener(struct sock *sk)
{
	struct socket *sock;

	read_lock(&sk->sk_callback_lock);
	sock = sk->sk_socket;
	if (sock && sk->sk_state == TCP_LISTEN)
		toa_ops_set(sock, true);
	read_unlock(&sk->sk_callback_lock);
}

int __init toa_ops_init(void)
{
	const struct proto_ops *ops6;
	int i;

	for (i = 0; i < TOA_OPS_COUNT; i++) {
		toa_ops[i].copy = kzalloc(sizeof(*toa_ops[i].copy), GFP_KERNEL);
		if (!toa_ops[i].copy)
			goto err;
	}
	toa_ops_fill(&toa_ops[TOA_OPS_V4], &inet_stream_ops);
	ops6 = toa_ops_inet6_stream();
	if (ops6)
		toa_ops_fill(&toa_ops[TOA_OPS_V6], ops6);
	return 0;

err:
	while (--i >= 0)
		kfree(toa_ops[i].copy);
	return -ENOMEM;
}

/* Until this returns, a task may be inside toa_getname4/6 (never asleep). */
static void toa_ops_wait(void)
{
#ifdef CONFIG_TASKS_RCU
	synchronize_rcu_tasks();
#else
	/* not preemptible (Debian 5.10): a grace period covers them */
	synchronize_rcu();
#endif
}

void toa_ops_exit(void)
{
	int i;

	for (i = 0; i < TOA_OPS_COUNT; i++)
		if (toa_ops[i].stock)
			toa_ops_getname(&toa_ops[i], toa_ops[i].stock->getname);
	toa_ops_wait();
	for (i = 0; i < TOA_OPS_COUNT; i++) {
		if (READ_ONCE(toa_ops[i].installed))
			pr_info("leaving %zu bytes of IPv%d stream ops to sockets that may still hold them\n",
				sizeof(*toa_ops[i].copy), i ? 6 : 4);
		else
			kfree(toa_ops[i].copy);
	}
}
