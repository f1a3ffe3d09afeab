// SPDX-License-Identifier: GPL-2.0
/* Answer getsockopt(TOA_SO_GET_PEER): the client a TOA named and the LB that carried it. */
#include <linux/errno.h>
#include <linux/in.h>
#include <linux/netfilter.h>
#include <linux/uaccess.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>

#include "toa_sockopt.h"
#include "toa_state.h"
#include "uapi/toa.h"

/* The LB is the socket's raw peer: only getname's answer is rewritten. */
static void toa_sockopt_lb(const struct sock *sk, struct toa_peer_info *info)
{
	info->lb_port = inet_sk(sk)->inet_dport;
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6) {
		info->lb_family = AF_INET6;
		memcpy(info->lb_addr, &sk->sk_v6_daddr, 16);
		return;
	}
#endif
	info->lb_family = AF_INET;
	memcpy(info->lb_addr, &inet_sk(sk)->inet_daddr, 4);
}

static void toa_sockopt_fill(const struct sock *sk, const struct toa_addr *toa,
			     struct toa_peer_info *info)
{
	memset(info, 0, sizeof(*info));
	info->version = TOA_PEER_VERSION;
	info->size = sizeof(*info);
	info->family = toa->family == 4 ? AF_INET : AF_INET6;
	memcpy(info->addr, toa->addr, toa->family == 4 ? 4 : 16);
	info->format = toa->format;
	info->seen = toa->seen;
	if (toa->flags & TOA_HAS_PORT) {
		info->flags |= TOA_PEER_HAS_PORT;
		info->port = toa->port;
	}
	toa_sockopt_lb(sk, info);
}

bool toa_peer_info_of(const struct sock *sk, struct toa_peer_info *info)
{
	struct toa_addr toa;

	if (!toa_state_lookup(sk, &toa))
		return false;
	toa_sockopt_fill(sk, &toa, info);
	return true;
}

static int toa_sockopt_get(struct sock *sk, int optval, void __user *user,
			   int *len)
{
	struct toa_peer_info info;

	/* a short buffer would silently cut the answer: ask for the size */
	if (*len < (int)sizeof(info))
		return -EINVAL;
	if (!toa_peer_info_of(sk, &info))
		return -ENOENT;
	if (copy_to_user(user, &info, sizeof(info)))
		return -EFAULT;
	*len = sizeof(info);
	return 0;
}

static struct nf_sockopt_ops toa_sockopt_ops[] = {
	{
		.pf = PF_INET,
		.get_optmin = TOA_SO_BASE,
		.get_optmax = TOA_SO_GET_MAX,
		.get = toa_sockopt_get,
		.owner = THIS_MODULE,
	},
	{
		.pf = PF_INET6,
		.get_optmin = TOA_SO_BASE,
		.get_optmax = TOA_SO_GET_MAX,
		.get = toa_sockopt_get,
		.owner = THIS_MODULE,
	},
};

int toa_sockopt_register(void)
{
	int err;

	err = nf_register_sockopt(&toa_sockopt_ops[0]);
	if (err)
		return err;
	err = nf_register_sockopt(&toa_sockopt_ops[1]);
	if (err)
		nf_unregister_sockopt(&toa_sockopt_ops[0]);
	return err;
}

/* A caller in the handler holds a module reference (.owner): unload cannot race it. */
void toa_sockopt_unregister(void)
{
	nf_unregister_sockopt(&toa_sockopt_ops[1]);
	nf_unregister_sockopt(&toa_sockopt_ops[0]);
}
