// SPDX-License-Identifier: GPL-2.0
/* The `trust` parameter: CIDRs of load balancers allowed to supply a TOA. */
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

/* Writers are serialized by the module's kernel_param_lock. */
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

/* "192.0.2.0/24", "2001:db8::/32" or a bare address (a host prefix). */
static int toa_cidr_parse(const char *s, struct toa_cidr *c)
{
	const char *end;
	unsigned int max;
	int ok;

	memset(c, 0, sizeof(*c));
	if (strchr(s, ':')) {
		c->family = 6;
		max = 128;
		ok = in6_pton(s, -1, c->addr, '/', &end);
	} else {
		c->family = 4;
		max = 32;
		ok = in4_pton(s, -1, c->addr, '/', &end);
	}
	if (!ok)
		return -EINVAL;
	c->plen = max;
	if (*end == '/') {
		if (kstrtou8(end + 1, 10, &c->plen) || c->plen > max)
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	return 0;
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
	l = kzalloc(struct_size(l, cidr, n), GFP_KERNEL);
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
		err = toa_cidr_parse(item, &l->cidr[l->n]);
		if (err) {
			pr_err("trust: '%s' is not an IPv4 or IPv6 CIDR\n",
			       item);
			goto out;
		}
		l->n++;
	}
	*out = l;
	l = NULL;
out:
	kfree(buf);
	kfree(l);
	return err;
}

static int toa_trust_set(const char *val, const struct kernel_param *kp)
{
	struct toa_trust_list *l, *old;
	int err;

	err = toa_trust_parse(val, &l);
	if (err)
		return err;
	old = rcu_replace_pointer(toa_trust, l, true);
	if (old)
		kfree_rcu(old, rcu);
	pr_info("trust list: %u entries%s\n", l->n,
		l->n ? "" : " (TOA accepted from any source)");
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
