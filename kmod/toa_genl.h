/* SPDX-License-Identifier: GPL-2.0 */
/* The generic netlink family "TOA": the module's control plane. */
#ifndef TOA_GENL_H
#define TOA_GENL_H

int toa_genl_register(void);
void toa_genl_unregister(void);

#endif /* TOA_GENL_H */
