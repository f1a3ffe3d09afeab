/* SPDX-License-Identifier: GPL-2.0 */
/* The SYN hook: TOAs of SYNs go to the stash. */
#ifndef TOA_SYN_H
#define TOA_SYN_H

int toa_syn_register(void);
void toa_syn_unregister(void);
unsigned long toa_syn_missed(void);

#endif /* TOA_SYN_H */
