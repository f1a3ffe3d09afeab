// SPDX-License-Identifier: GPL-2.0
/* Generic netlink family "TOA": counters, configuration and lookup, uapi/toa_genl.h. */
#include <linux/moduleparam.h>
#include <net/genetlink.h>

#include "toa_genl.h"
#include "toa_lookup.h"
#include "toa_main.h"
#include "toa_parse.h"
#include "toa_stash.h"
#include "toa_stats.h"
#include "toa_trust.h"
#include "uapi/toa_genl.h"

#define TOA_FORMATS_LEN	256

static const struct nla_policy toa_cidr_policy[TOA_CIDR_A_MAX + 1] = {
	[TOA_CIDR_A_FAMILY] = { .type = NLA_U8 },
	[TOA_CIDR_A_ADDR] = { .type = NLA_BINARY, .len = 16 },
	[TOA_CIDR_A_PREFIX] = NLA_POLICY_MAX(NLA_U8, 128),
};

static const struct nla_policy toa_trust_policy[TOA_TRUST_A_MAX + 1] = {
	[TOA_TRUST_A_CIDR] = NLA_POLICY_NESTED(toa_cidr_policy),
};

static const struct nla_policy toa_tuple_policy[TOA_TUPLE_A_MAX + 1] = {
	[TOA_TUPLE_A_FAMILY] = { .type = NLA_U8 },
	[TOA_TUPLE_A_LOCAL_ADDR] = { .type = NLA_BINARY, .len = 16 },
	[TOA_TUPLE_A_LOCAL_PORT] = { .type = NLA_U16 },
	[TOA_TUPLE_A_REMOTE_ADDR] = { .type = NLA_BINARY, .len = 16 },
	[TOA_TUPLE_A_REMOTE_PORT] = { .type = NLA_U16 },
};

static const struct nla_policy toa_policy[TOA_A_MAX + 1] = {
	[TOA_A_TRUST] = NLA_POLICY_NESTED(toa_trust_policy),
	[TOA_A_FORMATS] = { .type = NLA_NUL_STRING, .len = TOA_FORMATS_LEN },
	[TOA_A_ENABLED] = NLA_POLICY_MAX(NLA_U8, 1),
	[TOA_A_TUPLE] = NLA_POLICY_NESTED(toa_tuple_policy),
};

static struct genl_family toa_genl_family;

/* Address of @family (AF_INET or AF_INET6) in @a; 4 or 6, or 0 when it is not one. */
static int toa_genl_addr(const struct nlattr *fam, const struct nlattr *a,
			 u8 *out)
{
	int family = nla_get_u8(fam);

	if (family == AF_INET && nla_len(a) == 4)
		family = 4;
	else if (family == AF_INET6 && nla_len(a) == 16)
		family = 6;
	else
		return 0;
	memcpy(out, nla_data(a), nla_len(a));
	return family;
}

static int toa_genl_cidr(const struct nlattr *nest, struct toa_trust_list *l,
			 struct netlink_ext_ack *extack)
{
	struct nlattr *tb[TOA_CIDR_A_MAX + 1];
	u8 addr[16];
	int family, err;

	err = nla_parse_nested(tb, TOA_CIDR_A_MAX, nest, toa_cidr_policy,
			       extack);
	if (err)
		return err;
	if (!tb[TOA_CIDR_A_FAMILY] || !tb[TOA_CIDR_A_ADDR] ||
	    !tb[TOA_CIDR_A_PREFIX]) {
		NL_SET_ERR_MSG_ATTR(extack, nest,
				    "a CIDR needs FAMILY, ADDR and PREFIX");
		return -EINVAL;
	}
	family = toa_genl_addr(tb[TOA_CIDR_A_FAMILY], tb[TOA_CIDR_A_ADDR],
			       addr);
	if (!family) {
		NL_SET_ERR_MSG_ATTR(extack, tb[TOA_CIDR_A_ADDR],
				    "CIDR address: want 4 bytes for AF_INET, 16 for AF_INET6");
		return -EINVAL;
	}
	if (toa_trust_add(l, family, addr, nla_get_u8(tb[TOA_CIDR_A_PREFIX]))) {
		NL_SET_ERR_MSG_ATTR(extack, tb[TOA_CIDR_A_PREFIX],
				    "CIDR prefix longer than the address (max 32 or 128)");
		return -EINVAL;
	}
	return 0;
}

/* The whole list is checked before anything changes: a bad item changes nothing. */
static int toa_genl_trust(const struct nlattr *nest, struct toa_trust_list **out,
			  struct netlink_ext_ack *extack)
{
	struct toa_trust_list *l;
	const struct nlattr *a;
	unsigned int n = 0;
	int rem, err;

	nla_for_each_nested(a, nest, rem)
		n++;
	l = toa_trust_alloc(n);
	if (!l)
		return -ENOMEM;
	nla_for_each_nested(a, nest, rem) {
		err = toa_genl_cidr(a, l, extack);
		if (err) {
			toa_trust_release(l);
			return err;
		}
	}
	*out = l;
	return 0;
}

static int toa_genl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *formats = info->attrs[TOA_A_FORMATS];
	struct nlattr *enabled = info->attrs[TOA_A_ENABLED];
	struct nlattr *trust = info->attrs[TOA_A_TRUST];
	struct toa_trust_list *l = NULL;
	u32 mask = 0;
	int err;

	if (!formats && !enabled && !trust) {
		NL_SET_ERR_MSG(info->extack,
			       "SET_CONFIG needs TRUST, FORMATS or ENABLED");
		return -EINVAL;
	}
	if (formats && toa_parse_formats(nla_data(formats), &mask)) {
		NL_SET_ERR_MSG_ATTR(info->extack, formats,
				    "unknown format name (known: 254/8, 254/20, 253/20, 200/8, 252/8, 253/8, 28/7, 28/19, 254/16, 253/hostid, 254/hostid)");
		return -EINVAL;
	}
	if (trust) {
		err = toa_genl_trust(trust, &l, info->extack);
		if (err)
			return err;
	}
	/* the lock sysfs writes of the same parameters take */
	kernel_param_lock(THIS_MODULE);
	if (l)
		toa_trust_swap(l);
	if (formats)
		toa_formats_store(mask);
	if (enabled)
		toa_enabled_store(nla_get_u8(enabled));
	kernel_param_unlock(THIS_MODULE);
	return 0;
}

static struct sk_buff *toa_genl_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *msg;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &toa_genl_family, 0,
				 info->genlhdr->cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int toa_genl_send(struct sk_buff *msg, void *hdr,
			 struct genl_info *info, int err)
{
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int toa_genl_stat(void *arg, u32 id, const char *name, u64 value)
{
	struct sk_buff *msg = arg;
	struct nlattr *nest;

	nest = nla_nest_start(msg, TOA_STATS_A_STAT);
	if (!nest || nla_put_u32(msg, TOA_STAT_A_ID, id) ||
	    nla_put_string(msg, TOA_STAT_A_NAME, name) ||
	    nla_put_u64_64bit(msg, TOA_STAT_A_VALUE, value, TOA_STAT_A_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int toa_genl_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = toa_genl_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	nest = nla_nest_start(msg, TOA_A_STATS);
	err = nest ? toa_stats_walk(toa_genl_stat, msg) : -EMSGSIZE;
	if (!err)
		nla_nest_end(msg, nest);
	return toa_genl_send(msg, hdr, info, err);
}

static int toa_genl_put_cidr(void *arg, int family, const u8 *addr,
			     unsigned int plen)
{
	struct sk_buff *msg = arg;
	struct nlattr *nest;

	nest = nla_nest_start(msg, TOA_TRUST_A_CIDR);
	if (!nest ||
	    nla_put_u8(msg, TOA_CIDR_A_FAMILY, family == 4 ? AF_INET : AF_INET6) ||
	    nla_put(msg, TOA_CIDR_A_ADDR, family == 4 ? 4 : 16, addr) ||
	    nla_put_u8(msg, TOA_CIDR_A_PREFIX, plen))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int toa_genl_put_config(struct sk_buff *msg)
{
	char formats[TOA_FORMATS_LEN];
	struct nlattr *nest;

	toa_formats_print(formats, sizeof(formats));
	nest = nla_nest_start(msg, TOA_A_TRUST);
	if (!nest || toa_trust_each(toa_genl_put_cidr, msg))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	if (nla_put_string(msg, TOA_A_FORMATS, formats) ||
	    nla_put_u8(msg, TOA_A_ENABLED, toa_enabled()) ||
	    nla_put_u32(msg, TOA_A_STASH_MAX, toa_stash_limit()) ||
	    nla_put_u32(msg, TOA_A_STASH_TTL_MS, toa_stash_ttl()) ||
	    nla_put_string(msg, TOA_A_VERSION, TOA_VERSION))
		return -EMSGSIZE;
	return 0;
}

static int toa_genl_get_config(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = toa_genl_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	return toa_genl_send(msg, hdr, info, toa_genl_put_config(msg));
}

static int toa_genl_tuple(struct genl_info *info, struct toa_tuple *t)
{
	struct nlattr *nest = info->attrs[TOA_A_TUPLE];
	struct nlattr *tb[TOA_TUPLE_A_MAX + 1];
	int err, i;

	if (!nest) {
		NL_SET_ERR_MSG(info->extack, "LOOKUP needs TOA_A_TUPLE");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, TOA_TUPLE_A_MAX, nest, toa_tuple_policy,
			       info->extack);
	if (err)
		return err;
	for (i = TOA_TUPLE_A_FAMILY; i <= TOA_TUPLE_A_MAX; i++) {
		if (!tb[i]) {
			NL_SET_ERR_MSG_ATTR(info->extack, nest,
					    "a tuple needs FAMILY, LOCAL_ADDR, LOCAL_PORT, REMOTE_ADDR and REMOTE_PORT");
			return -EINVAL;
		}
	}
	memset(t, 0, sizeof(*t));
	t->family = toa_genl_addr(tb[TOA_TUPLE_A_FAMILY],
				  tb[TOA_TUPLE_A_LOCAL_ADDR], t->laddr);
	if (!t->family ||
	    toa_genl_addr(tb[TOA_TUPLE_A_FAMILY], tb[TOA_TUPLE_A_REMOTE_ADDR],
			  t->raddr) != t->family) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest,
				    "tuple addresses: want 4 bytes for AF_INET, 16 for AF_INET6");
		return -EINVAL;
	}
	t->lport = htons(nla_get_u16(tb[TOA_TUPLE_A_LOCAL_PORT]));
	t->rport = htons(nla_get_u16(tb[TOA_TUPLE_A_REMOTE_PORT]));
	return 0;
}

static int toa_genl_put_peer(struct sk_buff *msg,
			     const struct toa_peer_info *p)
{
	int len = p->family == AF_INET ? 4 : 16;
	int lb_len = p->lb_family == AF_INET ? 4 : 16;
	struct nlattr *nest;

	nest = nla_nest_start(msg, TOA_A_PEER);
	if (!nest || nla_put_u8(msg, TOA_PEER_A_FAMILY, p->family) ||
	    nla_put(msg, TOA_PEER_A_ADDR, len, p->addr) ||
	    ((p->flags & TOA_PEER_HAS_PORT) &&
	     nla_put_u16(msg, TOA_PEER_A_PORT, ntohs(p->port))) ||
	    nla_put_u8(msg, TOA_PEER_A_LB_FAMILY, p->lb_family) ||
	    nla_put(msg, TOA_PEER_A_LB_ADDR, lb_len, p->lb_addr) ||
	    nla_put_u16(msg, TOA_PEER_A_LB_PORT, ntohs(p->lb_port)) ||
	    nla_put_u8(msg, TOA_PEER_A_FORMAT, p->format) ||
	    nla_put_u8(msg, TOA_PEER_A_SEEN, p->seen))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int toa_genl_lookup(struct sk_buff *skb, struct genl_info *info)
{
	struct toa_peer_info peer;
	struct toa_tuple t;
	struct sk_buff *msg;
	void *hdr;
	int err;

	err = toa_genl_tuple(info, &t);
	if (err)
		return err;
	err = toa_lookup(genl_info_net(info), &t, &peer);
	if (err == -ESRCH)
		NL_SET_ERR_MSG(info->extack,
			       "no established TCP connection with that 4-tuple in this network namespace");
	if (err)
		return err;
	msg = toa_genl_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	return toa_genl_send(msg, hdr, info, toa_genl_put_peer(msg, &peer));
}

static const struct genl_small_ops toa_genl_ops[] = {
	{
		.cmd = TOA_CMD_GET_STATS,
		.doit = toa_genl_get_stats,
	},
	{
		.cmd = TOA_CMD_GET_CONFIG,
		.doit = toa_genl_get_config,
	},
	{
		.cmd = TOA_CMD_SET_CONFIG,
		.doit = toa_genl_set_config,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = TOA_CMD_LOOKUP,
		.doit = toa_genl_lookup,
	},
};

static struct genl_family toa_genl_family __ro_after_init = {
	.name = TOA_GENL_NAME,
	.version = TOA_GENL_VERSION,
	.maxattr = TOA_A_MAX,
	.policy = toa_policy,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.small_ops = toa_genl_ops,
	.n_small_ops = ARRAY_SIZE(toa_genl_ops),
	/* resv_start_op (6.1+) stays 0: every command is validated strictly */
};

int __init toa_genl_register(void)
{
	return genl_register_family(&toa_genl_family);
}

void toa_genl_unregister(void)
{
	genl_unregister_family(&toa_genl_family);
}
