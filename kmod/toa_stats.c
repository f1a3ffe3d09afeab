// SPDX-License-Identifier: GPL-2.0
/* /proc/net/toa_stats in every network namespace: one "name value" per line. */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>

#include "toa_hooks.h"
#include "toa_stash.h"
#include "toa_state.h"
#include "toa_stats.h"
#include "toa_syn.h"

struct toa_counters __percpu *toa_counters;

static u64 toa_stats_sum(unsigned int stat)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu_ptr(toa_counters, cpu)->c[stat];
	return sum;
}

/* enum toa_stat order, from TOA_S_SYN_PARSED to the end */
static const char *const toa_stash_names[] = {
	"syn_parsed", "syn_stashed", "stash_hits", "stash_expired",
	"stash_full", "stash_alloc_failed",
};

static void toa_stats_show_stash(struct seq_file *seq)
{
	int i;

	BUILD_BUG_ON(ARRAY_SIZE(toa_stash_names) !=
		     TOA_S_COUNT - TOA_S_SYN_PARSED);
	for (i = 0; i < ARRAY_SIZE(toa_stash_names); i++)
		seq_printf(seq, "%s %llu\n", toa_stash_names[i],
			   toa_stats_sum(TOA_S_SYN_PARSED + i));
	seq_printf(seq, "stash_entries %u\n", toa_stash_count());
}

static int toa_stats_show(struct seq_file *seq, void *v)
{
	u64 malformed = 0;
	int i;

	seq_printf(seq, "segments_parsed %llu\n", toa_stats_sum(TOA_S_SEGMENTS));
	seq_printf(seq, "toa_v4 %llu\n", toa_stats_sum(TOA_S_V4));
	seq_printf(seq, "toa_v6 %llu\n", toa_stats_sum(TOA_S_V6));
	seq_printf(seq, "toa_nat64 %llu\n", toa_stats_sum(TOA_S_NAT64));
	for (i = 0; i < TOA_FMT_COUNT; i++)
		seq_printf(seq, "toa_%s %llu\n", toa_format_name(i),
			   toa_stats_sum(TOA_S_FORMAT + i));
	seq_printf(seq, "untrusted %llu\n", toa_stats_sum(TOA_S_UNTRUSTED));
	for (i = TOA_E_TOO_LONG; i < TOA_E_COUNT; i++)
		malformed += toa_stats_sum(TOA_S_MALFORMED + i);
	seq_printf(seq, "malformed %llu\n", malformed);
	for (i = TOA_E_TOO_LONG; i < TOA_E_COUNT; i++)
		seq_printf(seq, "malformed_%s %llu\n", toa_err_name(i),
			   toa_stats_sum(TOA_S_MALFORMED + i));
	seq_printf(seq, "getname_rewritten %llu\n",
		   toa_stats_sum(TOA_S_GETNAME));
	seq_printf(seq, "ops_swapped %llu\n", toa_stats_sum(TOA_S_OPS_SWAPPED));
	seq_printf(seq, "addrform_kept %llu\n", toa_stats_sum(TOA_S_ADDRFORM));
	seq_printf(seq, "probe_missed %lu\n",
		   toa_hooks_missed() + toa_syn_missed());
	seq_printf(seq, "alloc_failed %llu\n",
		   toa_stats_sum(TOA_S_ALLOC_FAILED));
	seq_printf(seq, "sockets_tracked %u\n", toa_state_count());
	toa_stats_show_stash(seq);
	return 0;
}

static int __net_init toa_stats_net_init(struct net *net)
{
	if (!proc_create_single("toa_stats", 0444, net->proc_net,
				toa_stats_show))
		return -ENOMEM;
	return 0;
}

static void __net_exit toa_stats_net_exit(struct net *net)
{
	remove_proc_entry("toa_stats", net->proc_net);
}

static struct pernet_operations toa_stats_net_ops = {
	.init = toa_stats_net_init,
	.exit = toa_stats_net_exit,
};

int __init toa_stats_init(void)
{
	int err;

	toa_counters = alloc_percpu(struct toa_counters);
	if (!toa_counters)
		return -ENOMEM;
	err = register_pernet_subsys(&toa_stats_net_ops);
	if (err)
		free_percpu(toa_counters);
	return err;
}

void toa_stats_exit(void)
{
	unregister_pernet_subsys(&toa_stats_net_ops);
	free_percpu(toa_counters);
}
