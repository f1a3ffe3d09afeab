/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* toa.ko's per-socket lookup: getsockopt(fd, IPPROTO_IP or IPPROTO_IPV6, TOA_SO_GET_PEER). */
#ifndef _UAPI_TOA_H
#define _UAPI_TOA_H

#include <linux/types.h>

/*
 * Registered with nf_register_sockopt() for PF_INET and PF_INET6, so both
 * levels reach it (an AF_INET6 socket also answers IPPROTO_IP). Netfilter's
 * own getsockopt numbers live in 64..1300 (iptables 64, SO_ORIGINAL_DST 80,
 * arptables 96, ebtables 128, IPVS 1152); DPVS's toa uses 4096. 0x5440 ("T@")
 * collides with none of them, so toa.ko loads next to any of those modules.
 */
#define TOA_SO_BASE		0x5440
#define TOA_SO_GET_PEER		(TOA_SO_BASE)
#define TOA_SO_GET_MAX		(TOA_SO_BASE + 1)

/*
 * Errors (errno), besides EFAULT:
 * ENOPROTOOPT  toa.ko is not loaded (the kernel knows no such option);
 * ENOENT       the socket carries no TOA (the raw peer is the client);
 * EINVAL       optlen is shorter than struct toa_peer_info v1.
 */

#define TOA_PEER_VERSION	1

/* toa_peer_info.seen: the segment the TOA was read from */
#define TOA_SEEN_SYN		1
#define TOA_SEEN_ACK		2	/* handshake-completing ACK, no payload */
#define TOA_SEEN_DATA		3	/* handshake-completing ACK with payload */

#define TOA_PEER_HAS_PORT	0x01	/* port is valid (not every format has one) */

/*
 * Version 1, 48 bytes. Later versions only append fields: read @size and
 * @version, never assume sizeof(). Ports are in network byte order.
 */
struct toa_peer_info {
	__u16 version;		/* TOA_PEER_VERSION */
	__u16 size;		/* bytes the kernel filled */
	__u8 family;		/* client: AF_INET or AF_INET6 */
	__u8 lb_family;		/* load balancer (the socket's raw peer) */
	__u8 format;		/* enum toa_format, test/vectors/README.md order */
	__u8 seen;		/* TOA_SEEN_* */
	__be16 port;		/* client port, when TOA_PEER_HAS_PORT */
	__be16 lb_port;
	__u8 flags;		/* TOA_PEER_HAS_* */
	__u8 pad[3];
	__u8 addr[16];		/* client; AF_INET uses the first 4 bytes */
	__u8 lb_addr[16];	/* AF_INET uses the first 4 bytes */
};

#endif /* _UAPI_TOA_H */
