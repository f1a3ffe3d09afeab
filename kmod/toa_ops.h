/* SPDX-License-Identifier: GPL-2.0 */
/* Module-owned copies of the TCP stream proto_ops whose getname answers for TOA sockets. */
#ifndef TOA_OPS_H
#define TOA_OPS_H

#include <linux/net.h>
#include <net/sock.h>

int toa_ops_init(void);
/* Probes must be gone: makes every copy stock again, waits out callers. */
void toa_ops_exit(void);

/* Give @sock the copy (@toa) or the stock ops; other ops are left alone. */
void toa_ops_set(struct socket *sock, bool toa);
/* A TCP listener that saw a TOA child gets the copy: 6.12+ accept asks it. */
void toa_ops_listener(struct sock *sk);

#endif /* TOA_OPS_H */
