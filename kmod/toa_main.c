// SPDX-License-Identifier: GPL-2.0
/* TOA: keep the real client address that FullNAT load balancers carry in a TCP option. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>

#include "toa_genl.h"
#include "toa_hooks.h"
#include "toa_main.h"
#include "toa_ops.h"
#include "toa_parse.h"
#include "toa_stash.h"
#include "toa_sockopt.h"
#include "toa_state.h"
#include "toa_stats.h"
#include "toa_syn.h"
#include "toa_trust.h"

static u32 toa_format_mask = TOA_FORMATS_DEFAULT;
static bool toa_rewrite = true;

u32 toa_formats(void)
{
	return READ_ONCE(toa_format_mask);
}

void toa_formats_store(u32 mask)
{
	WRITE_ONCE(toa_format_mask, mask);
}

bool toa_enabled(void)
{
	return READ_ONCE(toa_rewrite);
}

void toa_enabled_store(bool on)
{
	WRITE_ONCE(toa_rewrite, on);
}

int toa_formats_print(char *buf, size_t size)
{
	u32 mask = toa_formats();
	int i, len = 0;

	for (i = 0; i < TOA_FMT_COUNT; i++)
		if (mask & TOA_FMT_BIT(i))
			len += scnprintf(buf + len, size - len, "%s%s",
					 len ? "," : "", toa_format_name(i));
	return len;
}

static int toa_formats_set(const char *val, const struct kernel_param *kp)
{
	u32 mask;

	if (toa_parse_formats(val, &mask)) {
		pr_err("formats: '%s' names an unknown format (known: 254/8, 254/20, 253/20, 200/8, 252/8, 253/8, 28/7, 28/19, 254/16, 253/hostid, 254/hostid)\n",
		       val);
		return -EINVAL;
	}
	toa_formats_store(mask);
	return 0;
}

static int toa_formats_get(char *buf, const struct kernel_param *kp)
{
	int len = toa_formats_print(buf, PAGE_SIZE);

	len += scnprintf(buf + len, PAGE_SIZE - len, "\n");
	return len;
}

static const struct kernel_param_ops toa_formats_ops = {
	.set = toa_formats_set,
	.get = toa_formats_get,
};

module_param_cb(formats, &toa_formats_ops, NULL, 0644);
MODULE_PARM_DESC(formats, "accepted TOA formats, e.g. \"254/8,254/20\"");

module_param_named(enabled, toa_rewrite, bool, 0644);
MODULE_PARM_DESC(enabled, "rewrite getpeername() of TOA sockets (0: answer the LB, as stock)");

static int __init toa_init(void)
{
	int err;

	err = toa_stats_init();
	if (err)
		return err;
	err = toa_state_init();
	if (err)
		goto err_stats;
	err = toa_stash_init();
	if (err)
		goto err_state;
	err = toa_ops_init();
	if (err)
		goto err_stash;
	err = toa_hooks_register();
	if (err)
		goto err_ops;
	/* after the hooks: a stashed TOA always has a taker */
	err = toa_syn_register();
	if (err)
		goto err_hooks;
	err = toa_sockopt_register();
	if (err)
		goto err_syn;
	/* last: the control plane sees a module that is fully up */
	err = toa_genl_register();
	if (err)
		goto err_sockopt;
	if (toa_trust_empty())
		pr_info("no trust list: TOA accepted from any source\n");
	pr_info("version %s loaded\n", TOA_VERSION);
	return 0;

err_sockopt:
	toa_sockopt_unregister();
err_syn:
	toa_syn_unregister();
err_hooks:
	toa_hooks_unregister();
err_ops:
	toa_ops_exit();
err_stash:
	toa_stash_exit();
err_state:
	toa_state_exit();
	rcu_barrier();
err_stats:
	toa_stats_exit();
	return err;
}

static void __exit toa_exit(void)
{
	toa_genl_unregister();
	toa_sockopt_unregister();
	toa_syn_unregister();
	toa_hooks_unregister();
	/* sockets keep working with stock answers (the LB address) */
	toa_ops_exit();
	toa_stash_exit();
	toa_state_exit();
	/* the kfree_rcu()s above complete before the module text goes */
	rcu_barrier();
	toa_stats_exit();
	pr_info("version %s unloaded\n", TOA_VERSION);
}

module_init(toa_init);
module_exit(toa_exit);

MODULE_VERSION(TOA_VERSION);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TCP option address (TOA): real client address behind FullNAT load balancers");
