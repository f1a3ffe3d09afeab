// SPDX-License-Identifier: GPL-2.0
/* A bounded, expiring table of the TOAs seen in SYNs, keyed by connection. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jhash.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "toa_stash.h"
#include "toa_stats.h"

#define TOA_STASH_BITS		10
#define TOA_STASH_MAX_LIMIT	65536
#define TOA_STASH_TTL_LIMIT	600000
/* how often expired entries are swept, at most and at least */
#define TOA_SWEEP_MAX_MS	1000
#define TOA_SWEEP_MIN_MS	10

/*
 * 64 s outlives a SYN-RECV request with the default tcp_synack_retries
 * (1 + 2 + 4 + 8 + 16 + 32 = 63 s); an ACK to a SYN cookie later than
 * that would have to be one the client held back for a minute.
 */
static unsigned int toa_stash_max = 4096;
static unsigned int toa_stash_ttl_ms = 64000;

struct toa_stash_entry {
	struct hlist_node node;
	unsigned long expires;	/* jiffies */
	struct toa_conn conn;
	struct toa_addr toa;
};

struct toa_stash_bucket {
	spinlock_t lock;	/* every access: readers take entries out */
	struct hlist_head head;
};

static struct toa_stash_bucket toa_stash[1 << TOA_STASH_BITS];
static struct kmem_cache *toa_stash_cache;
static atomic_t toa_stash_used = ATOMIC_INIT(0);
static u32 toa_stash_seed;

static void toa_stash_sweep(struct work_struct *work);
static DECLARE_DELAYED_WORK(toa_stash_sweeper, toa_stash_sweep);

static int toa_stash_set(const char *val, const struct kernel_param *kp,
			 unsigned int min, unsigned int max)
{
	unsigned int v;

	if (kstrtouint(val, 0, &v) || v < min || v > max) {
		pr_err("%s: '%s' is out of range: give %u to %u\n", kp->name,
		       val, min, max);
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, v);
	return 0;
}

static int toa_stash_max_set(const char *val, const struct kernel_param *kp)
{
	return toa_stash_set(val, kp, 0, TOA_STASH_MAX_LIMIT);
}

static int toa_stash_ttl_set(const char *val, const struct kernel_param *kp)
{
	return toa_stash_set(val, kp, 1, TOA_STASH_TTL_LIMIT);
}

static const struct kernel_param_ops toa_stash_max_ops = {
	.set = toa_stash_max_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops toa_stash_ttl_ops = {
	.set = toa_stash_ttl_set,
	.get = param_get_uint,
};

module_param_cb(stash_max, &toa_stash_max_ops, &toa_stash_max, 0644);
MODULE_PARM_DESC(stash_max,
		 "SYN TOAs kept until their handshake completes (0: off, max 65536)");
module_param_cb(stash_ttl_ms, &toa_stash_ttl_ops, &toa_stash_ttl_ms, 0644);
MODULE_PARM_DESC(stash_ttl_ms,
		 "how long a SYN TOA is kept, in ms (default 64000, max 600000)");

bool toa_stash_enabled(void)
{
	return READ_ONCE(toa_stash_max) != 0;
}

unsigned int toa_stash_limit(void)
{
	return READ_ONCE(toa_stash_max);
}

unsigned int toa_stash_ttl(void)
{
	return READ_ONCE(toa_stash_ttl_ms);
}

static struct toa_stash_bucket *toa_stash_bucket_of(const struct toa_conn *c)
{
	BUILD_BUG_ON(sizeof(*c) % sizeof(u32));
	return &toa_stash[jhash2((const u32 *)c, sizeof(*c) / sizeof(u32),
				 toa_stash_seed) >> (32 - TOA_STASH_BITS)];
}

/* Caller holds b->lock. */
static struct toa_stash_entry *toa_stash_find(struct toa_stash_bucket *b,
					      const struct toa_conn *conn)
{
	struct toa_stash_entry *e;

	hlist_for_each_entry(e, &b->head, node)
		if (!memcmp(&e->conn, conn, sizeof(*conn)))
			return e;
	return NULL;
}

/* Caller holds b->lock. */
static void toa_stash_unlink(struct toa_stash_entry *e)
{
	hlist_del(&e->node);
	kmem_cache_free(toa_stash_cache, e);
	atomic_dec(&toa_stash_used);
}

/* Caller holds b->lock. */
static void toa_stash_reap(struct toa_stash_bucket *b, unsigned long now)
{
	struct toa_stash_entry *e;
	struct hlist_node *tmp;

	hlist_for_each_entry_safe(e, tmp, &b->head, node) {
		if (time_before(now, e->expires))
			continue;
		toa_stash_unlink(e);
		toa_stats_inc(TOA_S_STASH_EXPIRED);
	}
}

static unsigned long toa_stash_period(void)
{
	unsigned int ms = READ_ONCE(toa_stash_ttl_ms) / 2;

	return msecs_to_jiffies(clamp_t(unsigned int, ms, TOA_SWEEP_MIN_MS,
					TOA_SWEEP_MAX_MS));
}

/* Runs while entries are held, so unanswered SYNs free their memory. */
static void toa_stash_sweep(struct work_struct *work)
{
	unsigned long flags, now = jiffies;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_stash); i++) {
		if (hlist_empty(&toa_stash[i].head))
			continue;
		spin_lock_irqsave(&toa_stash[i].lock, flags);
		toa_stash_reap(&toa_stash[i], now);
		spin_unlock_irqrestore(&toa_stash[i].lock, flags);
	}
	if (atomic_read(&toa_stash_used))
		schedule_delayed_work(&toa_stash_sweeper, toa_stash_period());
}

/* Caller holds b->lock; false when the table is full. */
static bool toa_stash_add(struct toa_stash_bucket *b, struct toa_stash_entry *e)
{
	toa_stash_reap(b, jiffies);
	/* the bound is exact: no two buckets can both take the last slot */
	if (atomic_inc_return(&toa_stash_used) > READ_ONCE(toa_stash_max)) {
		atomic_dec(&toa_stash_used);
		return false;
	}
	hlist_add_head(&e->node, &b->head);
	return true;
}

void toa_stash_put(const struct toa_conn *conn, const struct toa_addr *toa)
{
	struct toa_stash_bucket *b = toa_stash_bucket_of(conn);
	struct toa_stash_entry *e, *old;
	unsigned long flags;
	bool added = false;

	e = kmem_cache_alloc(toa_stash_cache, GFP_ATOMIC);
	if (!e) {
		toa_stats_inc(TOA_S_STASH_ALLOC_FAILED);
		return;
	}
	e->conn = *conn;
	e->toa = *toa;
	e->expires = jiffies + msecs_to_jiffies(READ_ONCE(toa_stash_ttl_ms));

	spin_lock_irqsave(&b->lock, flags);
	/* a SYN sent again (cookies keep no request): the newest wins */
	old = toa_stash_find(b, conn);
	if (old) {
		old->toa = e->toa;
		old->expires = e->expires;
	} else {
		added = toa_stash_add(b, e);
	}
	spin_unlock_irqrestore(&b->lock, flags);

	if (added) {
		/* once per entry, not per SYN sent again */
		toa_stats_inc(TOA_S_SYN_STASHED);
		schedule_delayed_work(&toa_stash_sweeper, toa_stash_period());
		return;
	}
	kmem_cache_free(toa_stash_cache, e);
	if (!old)
		toa_stats_inc(TOA_S_STASH_FULL);
}

bool toa_stash_peek(const struct toa_conn *conn, struct toa_addr *toa)
{
	struct toa_stash_bucket *b;
	struct toa_stash_entry *e;
	unsigned long flags;
	bool found = false;

	if (!atomic_read(&toa_stash_used))
		return false;
	b = toa_stash_bucket_of(conn);
	spin_lock_irqsave(&b->lock, flags);
	e = toa_stash_find(b, conn);
	if (e && !time_before(jiffies, e->expires)) {
		toa_stash_unlink(e);
		toa_stats_inc(TOA_S_STASH_EXPIRED);
	} else if (e) {
		*toa = e->toa;
		found = true;
	}
	spin_unlock_irqrestore(&b->lock, flags);
	return found;
}

bool toa_stash_drop(const struct toa_conn *conn)
{
	struct toa_stash_bucket *b;
	struct toa_stash_entry *e;
	unsigned long flags;
	bool found;

	if (!atomic_read(&toa_stash_used))
		return false;
	b = toa_stash_bucket_of(conn);
	spin_lock_irqsave(&b->lock, flags);
	e = toa_stash_find(b, conn);
	found = e;
	if (e)
		toa_stash_unlink(e);
	spin_unlock_irqrestore(&b->lock, flags);
	return found;
}

unsigned int toa_stash_count(void)
{
	return atomic_read(&toa_stash_used);
}

int __init toa_stash_init(void)
{
	unsigned int i;

	toa_stash_cache = KMEM_CACHE(toa_stash_entry, 0);
	if (!toa_stash_cache)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(toa_stash); i++) {
		spin_lock_init(&toa_stash[i].lock);
		INIT_HLIST_HEAD(&toa_stash[i].head);
	}
	/* chains an attacker cannot predict */
	get_random_bytes(&toa_stash_seed, sizeof(toa_stash_seed));
	return 0;
}

/* Probes are gone by now: only the sweeper may still run. */
void toa_stash_exit(void)
{
	struct toa_stash_entry *e;
	struct hlist_node *tmp;
	unsigned long flags;
	unsigned int i;

	cancel_delayed_work_sync(&toa_stash_sweeper);
	for (i = 0; i < ARRAY_SIZE(toa_stash); i++) {
		spin_lock_irqsave(&toa_stash[i].lock, flags);
		hlist_for_each_entry_safe(e, tmp, &toa_stash[i].head, node)
			toa_stash_unlink(e);
		spin_unlock_irqrestore(&toa_stash[i].lock, flags);
	}
	kmem_cache_destroy(toa_stash_cache);
}
