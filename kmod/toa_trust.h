/* SPDX-License-Identifier: GPL-2.0 */
/* Which load balancers may supply a TOA: the trust CIDR list. */
#ifndef TOA_TRUST_H
#define TOA_TRUST_H

#include <linux/types.h>

struct toa_trust_list;

/* @family 4 or 6; an empty list allows every source. */
bool toa_trust_allows(int family, const void *addr);
bool toa_trust_empty(void);

/* Building a new list: room for @n CIDRs, each checked as it is added. */
struct toa_trust_list *toa_trust_alloc(unsigned int n);
int toa_trust_add(struct toa_trust_list *l, int family, const u8 *addr,
		  unsigned int plen);
void toa_trust_release(struct toa_trust_list *l);

/* Publishes @l, which the trust list now owns; caller holds kernel_param_lock. */
void toa_trust_swap(struct toa_trust_list *l);

/* Calls @fn for each CIDR under RCU until it returns non-zero. */
int toa_trust_each(int (*fn)(void *arg, int family, const u8 *addr,
			     unsigned int plen),
		   void *arg);

#endif /* TOA_TRUST_H */
