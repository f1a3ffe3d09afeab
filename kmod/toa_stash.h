/* SPDX-License-Identifier: GPL-2.0 */
/* TOAs seen in SYNs, kept by connection until the handshake completes. */
#ifndef TOA_STASH_H
#define TOA_STASH_H

#include "toa_parse.h"
#include "toa_skb.h"

/* False when the `stash_max` parameter is 0: SYNs are not looked at. */
bool toa_stash_enabled(void);

/* The `stash_max` and `stash_ttl_ms` parameters. */
unsigned int toa_stash_limit(void);
unsigned int toa_stash_ttl(void);

/* Keeps @toa for @conn (replacing what it had); counted when refused. */
void toa_stash_put(const struct toa_conn *conn, const struct toa_addr *toa);

/* Copies the live entry of @conn into @toa; false when there is none. */
bool toa_stash_peek(const struct toa_conn *conn, struct toa_addr *toa);

/* Removes the entry of @conn; true when there was one. */
bool toa_stash_drop(const struct toa_conn *conn);

/* Entries held, expired ones not yet swept included. */
unsigned int toa_stash_count(void);

int toa_stash_init(void);
void toa_stash_exit(void);

#endif /* TOA_STASH_H */
