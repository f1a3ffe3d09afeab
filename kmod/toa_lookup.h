/* SPDX-License-Identifier: GPL-2.0 */
/* Find an established TCP connection by 4-tuple and read its TOA. */
#ifndef TOA_LOOKUP_H
#define TOA_LOOKUP_H

#include <net/net_namespace.h>
#include "uapi/toa.h"

/* As the server sees the connection: local = the server, remote = the LB. */
struct toa_tuple {
	u8 family;		/* 4 or 6 */
	u8 laddr[16];
	u8 raddr[16];
	__be16 lport;
	__be16 rport;
};

/* 0 and @info filled; -ESRCH: no such established connection; -ENOENT: no TOA. */
int toa_lookup(struct net *net, const struct toa_tuple *t,
	       struct toa_peer_info *info);

#endif /* TOA_LOOKUP_H */
