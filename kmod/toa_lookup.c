// SPDX-License-Identifier: GPL-2.0
/* Find an established TCP connection by 4-tuple in a namespace and read its TOA. */
#include <linux/version.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "toa_lookup.h"
#include "toa_sockopt.h"

/* Lookups take the segment's view: source = the remote end (the LB). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
/* the ehash argument is gone: the lookup finds the namespace's own */
#define TOA_EHASH(net)
#else
#define TOA_EHASH(net)	(net)->ipv4.tcp_death_row.hashinfo,
#endif

static struct sock *toa_lookup4(struct net *net, const struct toa_tuple *t)
{
	__be32 laddr, raddr;

	memcpy(&laddr, t->laddr, 4);
	memcpy(&raddr, t->raddr, 4);
	return __inet_lookup_established(net, TOA_EHASH(net) raddr, t->rport,
					 laddr, ntohs(t->lport), 0, 0);
}

static struct sock *toa_lookup6(struct net *net, const struct toa_tuple *t)
{
#if IS_ENABLED(CONFIG_IPV6)
	return __inet6_lookup_established(net, TOA_EHASH(net)
					  (const struct in6_addr *)t->raddr,
					  t->rport,
					  (const struct in6_addr *)t->laddr,
					  ntohs(t->lport), 0, 0);
#else
	return NULL;
#endif
}

int toa_lookup(struct net *net, const struct toa_tuple *t,
	       struct toa_peer_info *info)
{
	struct sock *sk;
	int err = 0;

	/* the hash chains are RCU; a found socket comes with a reference */
	rcu_read_lock();
	sk = t->family == 4 ? toa_lookup4(net, t) : toa_lookup6(net, t);
	rcu_read_unlock();
	if (!sk)
		return -ESRCH;
	/* TIME_WAIT and request socks are not (or no longer) established */
	if (!sk_fullsock(sk))
		err = -ESRCH;
	else if (!toa_peer_info_of(sk, info))
		err = -ENOENT;
	sock_gen_put(sk);
	return err;
}
