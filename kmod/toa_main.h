/* SPDX-License-Identifier: GPL-2.0 */
/* Module-wide settings owned by toa_main.c. */
#ifndef TOA_MAIN_H
#define TOA_MAIN_H

#include <linux/types.h>

/* Mask of accepted formats (module parameter `formats`). */
u32 toa_formats(void);

#endif /* TOA_MAIN_H */
