// SPDX-License-Identifier: GPL-2.0
/* Rewrite the peer address inet_getname/inet6_getname return for TOA sockets. */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/net.h>
#include <net/ipv6.h>

#include "toa_getname.h"
#include "toa_state.h"
#include "toa_stats.h"

/* getname(sock, uaddr, peer): peer is 1 for getpeername, 2 for accept */
int toa_getname_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct toa_getname_data *d = (struct toa_getname_data *)ri->data;
	struct socket *sock;

	if (!regs_get_kernel_argument(regs, 2) || !toa_state_count())
		return 1;
	sock = (struct socket *)regs_get_kernel_argument(regs, 0);
	if (!sock || !sock->sk)
		return 1;
	d->sock = sock;
	d->uaddr = (struct sockaddr *)regs_get_kernel_argument(regs, 1);
	return 0;
}

static bool toa_getname_in(struct sockaddr_in *sin, const struct toa_addr *toa)
{
	/* NAT64 on an AF_INET socket: no room for the client, keep the LB */
	if (toa->family != 4)
		return false;
	memcpy(&sin->sin_addr, toa->addr, 4);
	if (toa->flags & TOA_HAS_PORT)
		sin->sin_port = toa->port;
	return true;
}

static bool toa_getname_in6(struct sockaddr_in6 *sin6,
			    const struct toa_addr *toa)
{
	if (toa->family == 4) {
		__be32 a4;

		memcpy(&a4, toa->addr, 4);
		ipv6_addr_set_v4mapped(a4, &sin6->sin6_addr);
	} else {
		memcpy(&sin6->sin6_addr, toa->addr, 16);
	}
	/* the client is not on our link, whatever the LB's scope was */
	sin6->sin6_scope_id = 0;
	if (toa->flags & TOA_HAS_PORT)
		sin6->sin6_port = toa->port;
	return true;
}

int toa_getname_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct toa_getname_data *d = (struct toa_getname_data *)ri->data;
	struct toa_addr toa;
	bool done;

	if ((long)regs_return_value(regs) < 0)
		return 0;
	if (!toa_state_lookup(d->sock->sk, &toa))
		return 0;
	/* the family the kernel just wrote says which sockaddr it is */
	switch (d->uaddr->sa_family) {
	case AF_INET:
		done = toa_getname_in((struct sockaddr_in *)d->uaddr, &toa);
		break;
	case AF_INET6:
		done = toa_getname_in6((struct sockaddr_in6 *)d->uaddr, &toa);
		break;
	default:
		done = false;
	}
	if (done)
		toa_stats_inc(TOA_S_GETNAME);
	return 0;
}
