/* SPDX-License-Identifier: GPL-2.0 */
/* Module-wide settings owned by toa_main.c. */
#ifndef TOA_MAIN_H
#define TOA_MAIN_H

#include <linux/types.h>

#define TOA_VERSION "0.1.0"

/* Mask of accepted formats (module parameter `formats`). */
u32 toa_formats(void);
void toa_formats_store(u32 mask);

/* "254/8,254/20": the accepted formats as the parameter names them. */
int toa_formats_print(char *buf, size_t size);

/* Whether getpeername() of TOA sockets names the client (parameter `enabled`). */
bool toa_enabled(void);
void toa_enabled_store(bool on);

#endif /* TOA_MAIN_H */
