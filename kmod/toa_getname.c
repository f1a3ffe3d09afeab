// SPDX-License-Identifier: GPL-2.0
/* Answer getpeername()/accept() with the client a TOA named; stock getname otherwise. */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/inet_common.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/tcp_states.h>

#include "toa_getname.h"
#include "toa_main.h"
#include "toa_state.h"
#include "toa_stats.h"

/* inet_getname's -ENOTCONN test: the stock getname says it, not us */
static bool toa_getname_connected(const struct sock *sk, int peer)
{
	if (!inet_sk(sk)->inet_dport)
		return false;
	/* accept (peer 2) may name a child that is already closed */
	return peer != 1 ||
	       !((1 << READ_ONCE(sk->sk_state)) & (TCPF_CLOSE | TCPF_SYN_SENT));
}

static __be16 toa_getname_port(const struct sock *sk,
			       const struct toa_addr *toa)
{
	return toa->flags & TOA_HAS_PORT ? toa->port : inet_sk(sk)->inet_dport;
}

/*
 * Out of line, so toa_getname4/6 keep no frame and tail-call the stock
 * getname, which may sleep: no task ever sleeps inside this module's text.
 */
static noinline int toa_answer4(struct sock *sk, struct sockaddr *uaddr,
				int peer)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)uaddr;
	struct toa_addr toa;

	if (!toa_getname_connected(sk, peer) || !toa_state_lookup(sk, &toa))
		return 0;
	/* NAT64 on an AF_INET socket: no room for the client, keep the LB */
	if (toa.family != 4)
		return 0;
	sin->sin_family = AF_INET;
	sin->sin_port = toa_getname_port(sk, &toa);
	memcpy(&sin->sin_addr, toa.addr, 4);
	memset(sin->sin_zero, 0, sizeof(sin->sin_zero));
	toa_stats_inc(TOA_S_GETNAME);
	return sizeof(*sin);
}

static noinline int toa_answer6(struct sock *sk, struct sockaddr *uaddr,
				int peer)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)uaddr;
	struct toa_addr toa;

	if (!toa_getname_connected(sk, peer) || !toa_state_lookup(sk, &toa))
		return 0;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = toa_getname_port(sk, &toa);
	/* the LB connection's flow label says nothing of the client */
	sin6->sin6_flowinfo = 0;
	if (toa.family == 4) {
		__be32 a4;

		memcpy(&a4, toa.addr, 4);
		ipv6_addr_set_v4mapped(a4, &sin6->sin6_addr);
	} else {
		memcpy(&sin6->sin6_addr, toa.addr, 16);
	}
	/* the client is not on our link, whatever the LB's scope was */
	sin6->sin6_scope_id = 0;
	toa_stats_inc(TOA_S_GETNAME);
	return sizeof(*sin6);
}

int toa_getname4(struct socket *sock, struct sockaddr *uaddr, int peer)
{
	int ret;

	if (peer && toa_enabled()) {
		ret = toa_answer4(sock->sk, uaddr, peer);
		if (ret)
			return ret;
	}
	return inet_getname(sock, uaddr, peer);
}

int toa_getname6(struct socket *sock, struct sockaddr *uaddr, int peer)
{
	int ret;

	if (peer && toa_enabled()) {
		ret = toa_answer6(sock->sk, uaddr, peer);
		if (ret)
			return ret;
	}
	return inet6_getname(sock, uaddr, peer);
}
