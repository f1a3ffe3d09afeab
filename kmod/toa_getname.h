/* SPDX-License-Identifier: GPL-2.0 */
/* Answer getpeername()/accept() with the client a TOA named. */
#ifndef TOA_GETNAME_H
#define TOA_GETNAME_H

#include <linux/kprobes.h>

struct toa_getname_data {
	struct socket *sock;
	struct sockaddr *uaddr;
};

int toa_getname_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int toa_getname_return(struct kretprobe_instance *ri, struct pt_regs *regs);

#endif /* TOA_GETNAME_H */
