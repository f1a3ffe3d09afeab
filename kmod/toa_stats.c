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

/* The walk's state: the callback, its argument, the next ID, the first error. */
struct toa_walk {
	int (*fn)(void *arg, u32 id, const char *name, u64 value);
	void *arg;
	u32 id;
	int err;
};

static void toa_emit(struct toa_walk *w, const char *name, u64 value)
{
	if (!w->err)
		w->err = w->fn(w->arg, w->id, name, value);
	w->id++;
}

static void toa_emit_fmt(struct toa_walk *w, const char *prefix, const char *fmt,
			 u64 value)
{
	char name[32];

	snprintf(name, sizeof(name), "%s%s", prefix, fmt);
	toa_emit(w, name, value);
}

static void toa_walk_stash(struct toa_walk *w)
{
	int i;

	BUILD_BUG_ON(ARRAY_SIZE(toa_stash_names) !=
		     TOA_S_COUNT - TOA_S_SYN_PARSED);
	for (i = 0; i < ARRAY_SIZE(toa_stash_names); i++)
		toa_emit(w, toa_stash_names[i],
			 toa_stats_sum(TOA_S_SYN_PARSED + i));
	toa_emit(w, "stash_entries", toa_stash_count());
}

int toa_stats_walk(int (*fn)(void *arg, u32 id, const char *name, u64 value),
		   void *arg)
{
	struct toa_walk w = { .fn = fn, .arg = arg };
	u64 malformed = 0;
	int i;

	toa_emit(&w, "segments_parsed", toa_stats_sum(TOA_S_SEGMENTS));
	toa_emit(&w, "toa_v4", toa_stats_sum(TOA_S_V4));
	toa_emit(&w, "toa_v6", toa_stats_sum(TOA_S_V6));
	toa_emit(&w, "toa_nat64", toa_stats_sum(TOA_S_NAT64));
	for (i = 0; i < TOA_FMT_COUNT; i++)
		toa_emit_fmt(&w, "toa_", toa_format_name(i),
			     toa_stats_sum(TOA_S_FORMAT + i));
	toa_emit(&w, "untrusted", toa_stats_sum(TOA_S_UNTRUSTED));
	for (i = TOA_E_TOO_LONG; i < TOA_E_COUNT; i++)
		malformed += toa_stats_sum(TOA_S_MALFORMED + i);
	toa_emit(&w, "malformed", malformed);
	for (i = TOA_E_TOO_LONG; i < TOA_E_COUNT; i++)
		toa_emit_fmt(&w, "malformed_", toa_err_name(i),
			     toa_stats_sum(TOA_S_MALFORMED + i));
	toa_emit(&w, "getname_rewritten", toa_stats_sum(TOA_S_GETNAME));
	toa_emit(&w, "ops_swapped", toa_stats_sum(TOA_S_OPS_SWAPPED));
	toa_emit(&w, "addrform_kept", toa_stats_sum(TOA_S_ADDRFORM));
	toa_emit(&w, "probe_missed", toa_hooks_missed() + toa_syn_missed());
	toa_emit(&w, "alloc_failed", toa_stats_sum(TOA_S_ALLOC_FAILED));
	toa_emit(&w, "sockets_tracked", toa_state_count());
	toa_walk_stash(&w);
	return w.err;
}

static int toa_stats_line(void *seq, u32 id, const char *name, u64 value)
{
	seq_printf(seq, "%s %llu\n", name, value);
	return 0;
}

static int toa_stats_show(struct seq_file *seq, void *v)
{
	return toa_stats_walk(toa_stats_line, seq);
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
