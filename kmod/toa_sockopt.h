/* SPDX-License-Identifier: GPL-2.0 */
/* The getsockopt through which an app asks for its socket's TOA. */
#ifndef TOA_SOCKOPT_H
#define TOA_SOCKOPT_H

#include <net/sock.h>
#include "uapi/toa.h"

/* Fills @info (version 1) for a TOA socket; false when @sk carries no TOA. */
bool toa_peer_info_of(const struct sock *sk, struct toa_peer_info *info);

int toa_sockopt_register(void);
void toa_sockopt_unregister(void);

#endif /* TOA_SOCKOPT_H */
