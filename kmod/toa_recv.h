/* SPDX-License-Identifier: GPL-2.0 */
/* Read the TOA of the segment that completes a handshake. */
#ifndef TOA_RECV_H
#define TOA_RECV_H

#include <linux/kprobes.h>
#include "toa_parse.h"
#include "toa_skb.h"

struct toa_recv_data {
	struct sock *listener;
	bool *own_req;
	bool v4conn;
	bool from_syn;		/* @toa came from the stash */
	bool stashed;		/* @conn has a stash entry to drop */
	struct toa_addr toa;
	struct toa_conn conn;
};

int toa_recv_entry4(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_recv_entry6(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_recv_return(struct kretprobe_instance *ri, struct pt_regs *regs);

#endif /* TOA_RECV_H */
