/* SPDX-License-Identifier: GPL-2.0 */
/* Which load balancers may supply a TOA: the `trust` CIDR list. */
#ifndef TOA_TRUST_H
#define TOA_TRUST_H

#include <linux/types.h>

/* @family 4 or 6; an empty list allows every source. */
bool toa_trust_allows(int family, const void *addr);
bool toa_trust_empty(void);

#endif /* TOA_TRUST_H */
