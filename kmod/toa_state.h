/* SPDX-License-Identifier: GPL-2.0 */
/* Per-socket record of the client a TOA named, keyed by struct sock. */
#ifndef TOA_STATE_H
#define TOA_STATE_H

#include <net/sock.h>
#include "toa_parse.h"

int toa_state_record(const struct sock *sk, const struct toa_addr *toa,
		     bool v4conn);
void toa_state_forget(const struct sock *sk);
bool toa_state_lookup(const struct sock *sk, struct toa_addr *toa);
unsigned int toa_state_count(void);
int toa_state_init(void);
void toa_state_exit(void);

#endif /* TOA_STATE_H */
