// SPDX-License-Identifier: GPL-2.0
/* Lab baseline: empty probes on toa.ko's symbols, to tell its faults from the kernel's or QEMU's. */
#include <linux/cpumask.h>
#include <linux/kprobes.h>
#include <linux/module.h>

static int toa_baseline_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return 0;
}

static int toa_baseline_pre(struct kprobe *kp, struct pt_regs *regs)
{
	return 0;
}

/*
 * Keep in step with kmod/toa_hooks.c and toa_syn.c: the same symbols and
 * kinds, registered in the same batches and order (init: hooks' kprobes,
 * hooks' kretprobes, the SYN kprobes; exit: the reverse).
 */
static struct kprobe toa_baseline_kps[] = {
	{ .symbol_name = "inet_sock_destruct", .pre_handler = toa_baseline_pre },
	{ .symbol_name = "security_sock_graft", .pre_handler = toa_baseline_pre },
	{ .symbol_name = "inet_listen", .pre_handler = toa_baseline_pre },
};

static struct kprobe *toa_baseline_kp_list[] = {
	&toa_baseline_kps[0], &toa_baseline_kps[1], &toa_baseline_kps[2],
};

#define TOA_BASELINE_KRETPROBE(sym) { \
	.kp.symbol_name = sym, \
	.entry_handler = toa_baseline_ret, \
	.handler = toa_baseline_ret, \
	.data_size = 32, \
}

static struct kretprobe toa_baseline_rps[] = {
	TOA_BASELINE_KRETPROBE("tcp_v4_syn_recv_sock"),
	TOA_BASELINE_KRETPROBE("tcp_v6_syn_recv_sock"),
	TOA_BASELINE_KRETPROBE("ipv6_setsockopt"),
};

static struct kretprobe *toa_baseline_rp_list[] = {
	&toa_baseline_rps[0], &toa_baseline_rps[1], &toa_baseline_rps[2],
};

static struct kprobe toa_baseline_syn_kps[] = {
	{ .symbol_name = "tcp_v4_conn_request", .pre_handler = toa_baseline_pre },
	{ .symbol_name = "tcp_v6_conn_request", .pre_handler = toa_baseline_pre },
};

static struct kprobe *toa_baseline_syn_list[] = {
	&toa_baseline_syn_kps[0], &toa_baseline_syn_kps[1],
};

static int __init toa_baseline_init(void)
{
	unsigned int i;
	int err;

	err = register_kprobes(toa_baseline_kp_list,
			       ARRAY_SIZE(toa_baseline_kp_list));
	if (err)
		goto err_out;
	/* as toa.ko sizes it: the default silently misses under concurrency */
	for (i = 0; i < ARRAY_SIZE(toa_baseline_rps); i++)
		toa_baseline_rps[i].maxactive = 64 * num_possible_cpus();
	err = register_kretprobes(toa_baseline_rp_list,
				  ARRAY_SIZE(toa_baseline_rp_list));
	if (err)
		goto err_kps;
	err = register_kprobes(toa_baseline_syn_list,
			       ARRAY_SIZE(toa_baseline_syn_list));
	if (err)
		goto err_rps;
	return 0;

err_rps:
	unregister_kretprobes(toa_baseline_rp_list,
			      ARRAY_SIZE(toa_baseline_rp_list));
err_kps:
	unregister_kprobes(toa_baseline_kp_list,
			   ARRAY_SIZE(toa_baseline_kp_list));
err_out:
	pr_err("toa_baseline: cannot probe toa.ko's symbols: %d\n", err);
	return err;
}

static void __exit toa_baseline_exit(void)
{
	unregister_kprobes(toa_baseline_syn_list,
			   ARRAY_SIZE(toa_baseline_syn_list));
	unregister_kretprobes(toa_baseline_rp_list,
			      ARRAY_SIZE(toa_baseline_rp_list));
	unregister_kprobes(toa_baseline_kp_list,
			   ARRAY_SIZE(toa_baseline_kp_list));
}

module_init(toa_baseline_init);
module_exit(toa_baseline_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("toa lab baseline: the same probes, empty");
