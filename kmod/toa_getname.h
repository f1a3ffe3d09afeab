/* SPDX-License-Identifier: GPL-2.0 */
/* Answer getpeername()/accept() with the client a TOA named. */
#ifndef TOA_GETNAME_H
#define TOA_GETNAME_H

#include <linux/net.h>

/* proto_ops->getname of the module's IPv4 and IPv6 stream ops copies */
int toa_getname4(struct socket *sock, struct sockaddr *uaddr, int peer);
int toa_getname6(struct socket *sock, struct sockaddr *uaddr, int peer);

#endif /* TOA_GETNAME_H */
