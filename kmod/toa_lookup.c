// SPDX-License-Identifier: GPL-2.0
/* Find an established TCP connection by 4-tuple in a namespace and read its TOA. */
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "toa_lookup.h"
#include "toa_sockopt.h"

/*
 * Lookups take the segment's view: source = the remote end (the LB).
 * Kbuild defines TOA_LOOKUP_NO_HASHINFO for kernels whose lookups find the
 * namespace's hash themselves.
 */
#ifdef TOA_LOOKUP_NO_HASHINFO
static struct sock *toa_lookup4(struct net *net, __be32 raddr, __be16 rport,
				__be32 laddr, u16 lport)
{
	return __inet_lookup_established(net, raddr, rport, laddr, lport, 0, 0);
}

static struct sock *toa_lookup6(struct net *net, const struct in6_addr *raddr,
				__be16 rport, const struct in6_addr *laddr,
				u16 lport)
{
	return __inet6_lookup_established(net, raddr, rport, laddr, lport, 0, 0);
}
#else
static struct sock *toa_lookup4(struct net *net, __be32 raddr, __be16 rport,
				__be32 laddr, u16 lport)
{
	return __inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo,
					 raddr, rport, laddr, lport, 0, 0);
}

static struct sock *toa_lookup6(struct net *net, const struct in6_addr *raddr,
				__be16 rport, const struct in6_addr *laddr,
				u16 lport)
{
	return __inet6_lookup_established(net, net->ipv4.tcp_death_row.hashinfo,
					  raddr, rport, laddr, lport, 0, 0);
}
#endif

static struct sock *toa_lookup_sk(struct net *net, const struct toa_tuple *t)
{
	__be32 laddr, raddr;

	if (t->family == 6) {
		if (!IS_ENABLED(CONFIG_IPV6))
			return NULL;
		return toa_lookup6(net, (const struct in6_addr *)t->raddr,
				   t->rport, (const struct in6_addr *)t->laddr,
				   ntohs(t->lport));
	}
	memcpy(&laddr, t->laddr, 4);
	memcpy(&raddr, t->raddr, 4);
	return toa_lookup4(net, raddr, t->rport, laddr, ntohs(t->lport));
}

int toa_lookup(struct net *net, const struct toa_tuple *t,
	       struct toa_peer_info *info)
{
	struct sock *sk;
	int err = 0;

	/* the hash chains are RCU; a found socket comes with a reference */
	rcu_read_lock();
	sk = toa_lookup_sk(net, t);
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
