// SPDX-License-Identifier: GPL-2.0
/* TOA: keep the real client address that FullNAT load balancers carry in a TCP option. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

#define TOA_VERSION "0.1.0"

static int __init toa_init(void)
{
	pr_info("version %s loaded\n", TOA_VERSION);
	return 0;
}

static void __exit toa_exit(void)
{
	pr_info("version %s unloaded\n", TOA_VERSION);
}

module_init(toa_init);
module_exit(toa_exit);

MODULE_VERSION(TOA_VERSION);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TCP option address (TOA): real client address behind FullNAT load balancers");
