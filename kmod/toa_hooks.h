/* SPDX-License-Identifier: GPL-2.0 */
/* Attach to the kernel through kprobes: nothing of the kernel is rewritten. */
#ifndef TOA_HOOKS_H
#define TOA_HOOKS_H

int toa_hooks_register(void);
void toa_hooks_unregister(void);
unsigned long toa_hooks_missed(void);

#endif /* TOA_HOOKS_H */
