// SPDX-License-Identifier: GPL-2.0
/* Lab baseline: empty probes on toa.ko's symbols, to tell its faults from the kernel's or QEMU's. */
#include <linux/cpumask.h>
#include <linux/kprobes.h>
#include <linux/module.h>

static int toa_baseline_nop(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return 0;
}

static int toa_baseline_pre(struct kprobe *kp, struct pt_regs *regs)
{
	return 0;
}

static struct kprobe toa_baseline_kp = {
	.symbol_name = "inet_sock_destruct",
	.pre_handler = toa_baseline_pre,
};

#define TOA_BASELINE_RP(sym) { \
	.kp.symbol_name = sym, \
	.entry_handler = toa_baseline_nop, \
	.handler = toa_baseline_nop, \
	.data_size = 32, \
}

static struct kretprobe toa_baseline_rps[] = {
	TOA_BASELINE_RP("tcp_v4_syn_recv_sock"),
	TOA_BASELINE_RP("tcp_v6_syn_recv_sock"),
	TOA_BASELINE_RP("inet_getname"),
	TOA_BASELINE_RP("inet6_getname"),
};

static struct kretprobe *toa_baseline_list[] = {
	&toa_baseline_rps[0], &toa_baseline_rps[1],
	&toa_baseline_rps[2], &toa_baseline_rps[3],
};

static int __init toa_baseline_init(void)
{
	unsigned int i;
	int err;

	err = register_kprobe(&toa_baseline_kp);
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(toa_baseline_rps); i++)
		toa_baseline_rps[i].maxactive = 64 * num_possible_cpus();
	err = register_kretprobes(toa_baseline_list, ARRAY_SIZE(toa_baseline_list));
	if (err)
		unregister_kprobe(&toa_baseline_kp);
	return err;
}

static void __exit toa_baseline_exit(void)
{
	unregister_kretprobes(toa_baseline_list, ARRAY_SIZE(toa_baseline_list));
	unregister_kprobe(&toa_baseline_kp);
}

module_init(toa_baseline_init);
module_exit(toa_baseline_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("toa lab baseline: the same probes, empty");
