/* SPDX-License-Identifier: GPL-2.0 */
/* The getsockopt through which an app asks for its socket's TOA. */
#ifndef TOA_SOCKOPT_H
#define TOA_SOCKOPT_H

int toa_sockopt_register(void);
void toa_sockopt_unregister(void);

#endif /* TOA_SOCKOPT_H */
