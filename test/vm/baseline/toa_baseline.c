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

/* A kprobe is the kretprobe's own kp, registered alone (no handler). */
#define TOA_BASELINE_KPROBE(sym) { \
	.kp.symbol_name = sym, \
	.kp.pre_handler = toa_baseline_pre, \
}

#define TOA_BASELINE_KRETPROBE(sym) { \
	.kp.symbol_name = sym, \
	.entry_handler = toa_baseline_ret, \
	.handler = toa_baseline_ret, \
	.data_size = 32, \
}

/* Keep in step with kmod/toa_hooks.c and toa_syn.c: the same symbols and kinds. */
static struct kretprobe toa_baseline_probes[] = {
	TOA_BASELINE_KPROBE("inet_sock_destruct"),
	TOA_BASELINE_KRETPROBE("tcp_v4_syn_recv_sock"),
	TOA_BASELINE_KRETPROBE("tcp_v6_syn_recv_sock"),
	TOA_BASELINE_KRETPROBE("ipv6_setsockopt"),
	TOA_BASELINE_KPROBE("security_sock_graft"),
	TOA_BASELINE_KPROBE("inet_listen"),
	TOA_BASELINE_KPROBE("tcp_v4_conn_request"),
	TOA_BASELINE_KPROBE("tcp_v6_conn_request"),
};

static bool toa_baseline_is_kprobe(const struct kretprobe *rp)
{
	return !rp->handler;
}

static int toa_baseline_register(struct kretprobe *rp)
{
	if (toa_baseline_is_kprobe(rp))
		return register_kprobe(&rp->kp);
	/* as toa.ko sizes it: the default silently misses under concurrency */
	rp->maxactive = 64 * num_possible_cpus();
	return register_kretprobe(rp);
}

static void toa_baseline_unregister(struct kretprobe *rp)
{
	if (toa_baseline_is_kprobe(rp))
		unregister_kprobe(&rp->kp);
	else
		unregister_kretprobe(rp);
}

static int __init toa_baseline_init(void)
{
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(toa_baseline_probes); i++) {
		err = toa_baseline_register(&toa_baseline_probes[i]);
		if (err) {
			pr_err("toa_baseline: cannot probe %s: %d\n",
			       toa_baseline_probes[i].kp.symbol_name, err);
			goto err_unwind;
		}
	}
	return 0;

err_unwind:
	while (i--)
		toa_baseline_unregister(&toa_baseline_probes[i]);
	return err;
}

static void __exit toa_baseline_exit(void)
{
	unsigned int i = ARRAY_SIZE(toa_baseline_probes);

	while (i--)
		toa_baseline_unregister(&toa_baseline_probes[i]);
}

module_init(toa_baseline_init);
module_exit(toa_baseline_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("toa lab baseline: the same probes, empty");
