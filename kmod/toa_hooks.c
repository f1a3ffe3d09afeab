// SPDX-License-Identifier: GPL-2.0
/* Probe registration: parse at handshake, answer getname, forget at destruct. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/kprobes.h>

#include "toa_getname.h"
#include "toa_hooks.h"
#include "toa_recv.h"
#include "toa_state.h"

/* inet6_sock_destruct ends here too, so one probe covers both families */
static int toa_destruct_pre(struct kprobe *kp, struct pt_regs *regs)
{
	toa_state_forget((struct sock *)regs_get_kernel_argument(regs, 0));
	return 0;
}

static struct kprobe toa_destruct_kp = {
	.symbol_name = "inet_sock_destruct",
	.pre_handler = toa_destruct_pre,
};

static struct kretprobe toa_recv_rps[] = {
	{
		.kp.symbol_name = "tcp_v4_syn_recv_sock",
		.entry_handler = toa_recv_entry4,
		.handler = toa_recv_return,
		.data_size = sizeof(struct toa_recv_data),
	},
	{
		.kp.symbol_name = "tcp_v6_syn_recv_sock",
		.entry_handler = toa_recv_entry6,
		.handler = toa_recv_return,
		.data_size = sizeof(struct toa_recv_data),
	},
};

static struct kretprobe toa_getname_rps[] = {
	{
		.kp.symbol_name = "inet_getname",
		.entry_handler = toa_getname_entry,
		.handler = toa_getname_return,
		.data_size = sizeof(struct toa_getname_data),
	},
	{
		.kp.symbol_name = "inet6_getname",
		.entry_handler = toa_getname_entry,
		.handler = toa_getname_return,
		.data_size = sizeof(struct toa_getname_data),
	},
};

static struct kretprobe *toa_recv_list[] = { &toa_recv_rps[0], &toa_recv_rps[1] };
static struct kretprobe *toa_getname_list[] = {
	&toa_getname_rps[0], &toa_getname_rps[1]
};

/* The default maxactive silently drops returns under concurrency. */
static int toa_register(struct kretprobe **rps, unsigned int n)
{
	unsigned int i;
	int err;

	for (i = 0; i < n; i++)
		rps[i]->maxactive = 64 * num_possible_cpus();
	err = register_kretprobes(rps, n);
	if (err)
		pr_err("cannot probe %s (or its siblings): %d\n",
		       rps[0]->kp.symbol_name, err);
	return err;
}

int toa_hooks_register(void)
{
	int err;

	/* removal first: no entry may be recorded that nothing would free */
	err = register_kprobe(&toa_destruct_kp);
	if (err) {
		pr_err("cannot probe inet_sock_destruct: %d\n", err);
		return err;
	}
	err = toa_register(toa_recv_list, ARRAY_SIZE(toa_recv_list));
	if (err)
		goto err_destruct;
	err = toa_register(toa_getname_list, ARRAY_SIZE(toa_getname_list));
	if (err)
		goto err_recv;
	return 0;

err_recv:
	unregister_kretprobes(toa_recv_list, ARRAY_SIZE(toa_recv_list));
err_destruct:
	unregister_kprobe(&toa_destruct_kp);
	return err;
}

void toa_hooks_unregister(void)
{
	unregister_kretprobes(toa_getname_list, ARRAY_SIZE(toa_getname_list));
	unregister_kretprobes(toa_recv_list, ARRAY_SIZE(toa_recv_list));
	unregister_kprobe(&toa_destruct_kp);
}

unsigned long toa_hooks_missed(void)
{
	unsigned long missed = toa_destruct_kp.nmissed;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_recv_rps); i++)
		missed += toa_recv_rps[i].nmissed +
			  toa_recv_rps[i].kp.nmissed;
	for (i = 0; i < ARRAY_SIZE(toa_getname_rps); i++)
		missed += toa_getname_rps[i].nmissed +
			  toa_getname_rps[i].kp.nmissed;
	return missed;
}
