// SPDX-License-Identifier: GPL-2.0
/* Module-owned copies of the TCP stream proto_ops whose getname answers for TOA sockets. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
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
	const struct proto_ops *stock;	/* NULL until known (IPv6: lazily) */
	const struct proto_ops *copy;	/* module memory, written only here */
	bool installed;
	int (*getname)(struct socket *sock, struct sockaddr *uaddr, int peer);
};

static struct toa_ops toa_ops[TOA_OPS_COUNT] = {
	[TOA_OPS_V4] = { .getname = toa_getname4 },
	[TOA_OPS_V6] = { .getname = toa_getname6 },
};
static DEFINE_SPINLOCK(toa_ops_lock);

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
	/* readers that see stock see a complete copy */
	smp_store_release(&o->stock, stock);
}

/*
 * inet6_stream_ops is not exported everywhere: take it from the first live
 * socket that has it. Only TCP's own ops qualify (MPTCP's share getname).
 */
static bool toa_ops_is_inet6_stream(const struct proto_ops *ops)
{
	return ops->family == PF_INET6 && ops->getname == inet6_getname &&
	       ops->listen == inet_listen && ops->accept == inet_accept;
}

static struct toa_ops *toa_ops_adopt6(const struct proto_ops *ops)
{
	struct toa_ops *o = &toa_ops[TOA_OPS_V6];
	unsigned long flags;

	if (!toa_ops_is_inet6_stream(ops))
		return NULL;
	spin_lock_irqsave(&toa_ops_lock, flags);
	if (!o->stock)
		toa_ops_fill(o, ops);
	spin_unlock_irqrestore(&toa_ops_lock, flags);
	return o->stock == ops ? o : NULL;
}

/* The family whose copy fits @ops; NULL for ops that are not ours to touch. */
static struct toa_ops *toa_ops_of(const struct proto_ops *ops)
{
	struct toa_ops *v6 = &toa_ops[TOA_OPS_V6];
	const struct proto_ops *stock6;

	if (ops == &inet_stream_ops || ops == toa_ops[TOA_OPS_V4].copy)
		return &toa_ops[TOA_OPS_V4];
	if (ops == v6->copy)
		return v6;
	/* pairs with toa_ops_fill(): a known stock has a complete copy */
	stock6 = smp_load_acquire(&v6->stock);
	if (ops == stock6)
		return v6;
	return stock6 ? NULL : toa_ops_adopt6(ops);
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
	int i;

	for (i = 0; i < TOA_OPS_COUNT; i++) {
		toa_ops[i].copy = kzalloc(sizeof(*toa_ops[i].copy), GFP_KERNEL);
		if (!toa_ops[i].copy)
			goto err;
	}
	toa_ops_fill(&toa_ops[TOA_OPS_V4], &inet_stream_ops);
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
