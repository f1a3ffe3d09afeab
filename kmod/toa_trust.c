// SPDX-License-Identifier: GPL-2.0
/* The trust list: CIDRs of load balancers allowed to supply a TOA (parameter and netlink). */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "toa_trust.h"

struct toa_cidr {
	u8 family;	/* 4 or 6 */
	u8 plen;
	u8 addr[16];
};

struct toa_trust_list {
	struct rcu_head rcu;
	unsigned int n;
	struct toa_cidr cidr[];
};

/* Writers hold the module's kernel_param_lock (sysfs takes it; netlink too). */
static struct toa_trust_list __rcu *toa_trust;

static bool toa_prefix_match(const u8 *a, const u8 *b, unsigned int plen)
{
	unsigned int whole = plen / 8, rest = plen % 8;
	u8 mask;

	if (memcmp(a, b, whole))
		return false;
	if (!rest)
		return true;
	mask = 0xff << (8 - rest);
	return !((a[whole] ^ b[whole]) & mask);
}

bool toa_trust_allows(int family, const void *addr)
{
	const struct toa_trust_list *l;
	bool ok = true;
	unsigned int i;

	rcu_read_lock();
	l = rcu_dereference(toa_trust);
	if (l && l->n) {
		ok = false;
		for (i = 0; i < l->n && !ok; i++)
			ok = l->cidr[i].family == family &&
			     toa_prefix_match(l->cidr[i].addr, addr,
					      l->cidr[i].plen);
	}
	rcu_read_unlock();
	return ok;
}

bool toa_trust_empty(void)
{
	const struct toa_trust_list *l;
	bool empty;

	rcu_read_lock();
	l = rcu_dereference(toa_trust);
	empty = !l || !l->n;
	rcu_read_unlock();
	return empty;
}

struct toa_trust_list *toa_trust_alloc(unsigned int n)
{
	struct toa_trust_list *l;

	return kzalloc(struct_size(l, cidr, n), GFP_KERNEL);
}

void toa_trust_release(struct toa_trust_list *l)
{
	kfree(l);
}

/* Appends to a list from toa_trust_alloc(n); the caller keeps count below n. */
int toa_trust_add(struct toa_trust_list *l, int family, const u8 *addr,
		  unsigned int plen)
{
	struct toa_cidr *c = &l->cidr[l->n];

	if ((family != 4 && family != 6) || plen > (family == 4 ? 32 : 128))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->family = family;
	c->plen = plen;
	memcpy(c->addr, addr, family == 4 ? 4 : 16);
	l->n++;
	return 0;
}

/* "192.0.2.0/24", "2001:db8::/32" or a bare address (a host prefix). */
static int toa_cidr_parse(const char *s, struct toa_trust_list *l)
{
	unsigned int max = 32;
	int family = 4, ok;
	const char *end;
	u8 addr[16];
	u8 plen;

	if (strchr(s, ':')) {
		family = 6;
		max = 128;
		ok = in6_pton(s, -1, addr, '/', &end);
	} else {
		ok = in4_pton(s, -1, addr, '/', &end);
	}
	if (!ok)
		return -EINVAL;
	plen = max;
	if (*end == '/') {
		if (kstrtou8(end + 1, 10, &plen))
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	return toa_trust_add(l, family, addr, plen);
}

/* Parse the whole list before anything changes: a bad item changes nothing. */
static int toa_trust_parse(const char *val, struct toa_trust_list **out)
{
	struct toa_trust_list *l;
	char *buf, *cur, *item;
	unsigned int n = 1;
	const char *p;
	int err = 0;

	for (p = val; *p; p++)
		n += *p == ',';
	l = toa_trust_alloc(n);
	buf = kstrdup(val, GFP_KERNEL);
	if (!l || !buf) {
		err = -ENOMEM;
		goto out;
	}
	cur = buf;
	while ((item = strsep(&cur, ",")) != NULL) {
		item = strim(item);
		if (!*item)
			continue;
		err = toa_cidr_parse(item, l);
		if (err) {
			pr_err("trust: '%s' is not an IPv4 or IPv6 CIDR\n",
			       item);
			goto out;
		}
	}
	*out = l;
	l = NULL;
out:
	kfree(buf);
	kfree(l);
	return err;
}

/* One pointer swap: a reader sees the old list or the new one, never a mix. */
void toa_trust_swap(struct toa_trust_list *l)
{
	struct toa_trust_list *old;

	old = rcu_replace_pointer(toa_trust, l, true);
	if (old)
		kfree_rcu(old, rcu);
}

int toa_trust_each(int (*fn)(void *arg, int family, const u8 *addr,
			     unsigned int plen),
		   void *arg)
{
	const struct toa_trust_list *l;
	unsigned int i;
	int err = 0;

	rcu_read_lock();
	l = rcu_dereference(toa_trust);
	for (i = 0; l && i < l->n && !err; i++)
		err = fn(arg, l->cidr[i].family, l->cidr[i].addr,
			 l->cidr[i].plen);
	rcu_read_unlock();
	return err;
}

static int toa_trust_set(const char *val, const struct kernel_param *kp)
{
	struct toa_trust_list *l;
	unsigned int n;
	int err;

	err = toa_trust_parse(val, &l);
	if (err)
		return err;
	n = l->n;
	toa_trust_swap(l);
	pr_info("trust list: %u entries%s\n", n,
		n ? "" : " (TOA accepted from any source)");
	return 0;
}

static int toa_trust_get(char *buf, const struct kernel_param *kp)
{
	const struct toa_trust_list *l;
	const struct toa_cidr *c;
	int len = 0;
	unsigned int i;

	rcu_read_lock();
	l = rcu_dereference(toa_trust);
	for (i = 0; l && i < l->n; i++) {
		c = &l->cidr[i];
		if (c->family == 4)
			len += scnprintf(buf + len, PAGE_SIZE - len, "%s%pI4/%u",
					 i ? "," : "", c->addr, c->plen);
		else
			len += scnprintf(buf + len, PAGE_SIZE - len, "%s%pI6c/%u",
					 i ? "," : "", c->addr, c->plen);
	}
	rcu_read_unlock();
	len += scnprintf(buf + len, PAGE_SIZE - len, "\n");
	return len;
}

/* Called when the module is freed, after its sysfs files are gone. */
static void toa_trust_free(void *arg)
{
	kfree(rcu_replace_pointer(toa_trust, NULL, true));
}

static const struct kernel_param_ops toa_trust_ops = {
	.set = toa_trust_set,
	.get = toa_trust_get,
	.free = toa_trust_free,
};

module_param_cb(trust, &toa_trust_ops, NULL, 0644);
MODULE_PARM_DESC(trust, "CIDRs (IPv4, IPv6) allowed to supply a TOA; empty: any");
