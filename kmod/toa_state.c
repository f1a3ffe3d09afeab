// SPDX-License-Identifier: GPL-2.0
/* Per-socket TOA state in a hash table keyed by struct sock, RCU for readers. */
#include <linux/hash.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>

#include "toa_state.h"
#include "toa_stats.h"

#define TOA_HASH_BITS	12

/*
 * The kernel's own view of the peer when the entry was made: a freed and
 * reused struct sock carries another peer, so its lookup finds no match.
 */
struct toa_peer {
	bool v4conn;
	__be16 dport;
	__be32 daddr;
	struct in6_addr daddr6;
};

struct toa_entry {
	struct hlist_node node;
	struct rcu_head rcu;
	const struct sock *sk;
	struct toa_peer peer;
	struct toa_addr toa;
};

struct toa_bucket {
	spinlock_t lock;	/* writers; readers use RCU */
	struct hlist_head head;
};

static struct toa_bucket toa_table[1 << TOA_HASH_BITS];
static atomic_t toa_tracked = ATOMIC_INIT(0);

static struct toa_bucket *toa_bucket_of(const struct sock *sk)
{
	return &toa_table[hash_ptr(sk, TOA_HASH_BITS)];
}

static void toa_peer_of(const struct sock *sk, bool v4conn,
			struct toa_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->v4conn = v4conn;
	peer->dport = inet_sk(sk)->inet_dport;
	if (v4conn)
		peer->daddr = inet_sk(sk)->inet_daddr;
#if IS_ENABLED(CONFIG_IPV6)
	else
		peer->daddr6 = sk->sk_v6_daddr;
#endif
}

/* On every getpeername() of a TOA socket: compare in place, no copy */
static bool toa_peer_matches(const struct sock *sk, const struct toa_peer *p)
{
	if (inet_sk(sk)->inet_dport != p->dport)
		return false;
	if (p->v4conn)
		return inet_sk(sk)->inet_daddr == p->daddr;
#if IS_ENABLED(CONFIG_IPV6)
	return ipv6_addr_equal(&sk->sk_v6_daddr, &p->daddr6);
#else
	return false;
#endif
}

/* Caller holds b->lock. */
static void toa_unlink(struct toa_bucket *b, const struct sock *sk)
{
	struct toa_entry *e;
	struct hlist_node *tmp;

	hlist_for_each_entry_safe(e, tmp, &b->head, node) {
		if (e->sk != sk)
			continue;
		hlist_del_rcu(&e->node);
		kfree_rcu(e, rcu);
		atomic_dec(&toa_tracked);
	}
}

/*
 * Idempotent: an IPv4 handshake on a dual-stack listener may be seen twice,
 * and a reused struct sock replaces whatever a missed destruct left behind.
 */
int toa_state_record(const struct sock *sk, const struct toa_addr *toa,
		     bool v4conn)
{
	struct toa_bucket *b = toa_bucket_of(sk);
	struct toa_entry *e;
	unsigned long flags;

	e = kmalloc(sizeof(*e), GFP_ATOMIC);
	if (!e) {
		toa_stats_inc(TOA_S_ALLOC_FAILED);
		return -ENOMEM;
	}
	e->sk = sk;
	e->toa = *toa;
	toa_peer_of(sk, v4conn, &e->peer);

	spin_lock_irqsave(&b->lock, flags);
	toa_unlink(b, sk);
	hlist_add_head_rcu(&e->node, &b->head);
	atomic_inc(&toa_tracked);
	spin_unlock_irqrestore(&b->lock, flags);
	return 0;
}

void toa_state_forget(const struct sock *sk)
{
	struct toa_bucket *b;
	unsigned long flags;

	/* every socket of the system is destroyed through here: be quick */
	if (!atomic_read(&toa_tracked))
		return;
	b = toa_bucket_of(sk);
	spin_lock_irqsave(&b->lock, flags);
	toa_unlink(b, sk);
	spin_unlock_irqrestore(&b->lock, flags);
}

bool toa_state_lookup(const struct sock *sk, struct toa_addr *toa)
{
	struct toa_bucket *b = toa_bucket_of(sk);
	struct toa_entry *e;
	bool found = false;

	rcu_read_lock();
	hlist_for_each_entry_rcu(e, &b->head, node) {
		if (e->sk != sk)
			continue;
		if (toa_peer_matches(sk, &e->peer)) {
			*toa = e->toa;
			found = true;
		}
		break;
	}
	rcu_read_unlock();
	return found;
}

unsigned int toa_state_count(void)
{
	return atomic_read(&toa_tracked);
}

int __init toa_state_init(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_table); i++) {
		spin_lock_init(&toa_table[i].lock);
		INIT_HLIST_HEAD(&toa_table[i].head);
	}
	return 0;
}

/* Probes are gone by now: nothing records or looks up concurrently. */
void toa_state_exit(void)
{
	struct toa_entry *e;
	struct hlist_node *tmp;
	unsigned long flags;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_table); i++) {
		spin_lock_irqsave(&toa_table[i].lock, flags);
		hlist_for_each_entry_safe(e, tmp, &toa_table[i].head, node) {
			hlist_del_rcu(&e->node);
			kfree_rcu(e, rcu);
			atomic_dec(&toa_tracked);
		}
		spin_unlock_irqrestore(&toa_table[i].lock, flags);
	}
}
