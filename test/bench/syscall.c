// SPDX-License-Identifier: MIT
/*
 * Bench helper: the bare syscalls under originalPeer(), in C, on the socket inherited as fd 3.
 * Usage: syscall ITERS [OPT_ITERS]. Prints one JSON line: ns per getpeername() and per
 * getsockopt(IPPROTO_IP, TOA_SO_GET_PEER) (OPT_ITERS of them, default ITERS), and that
 * getsockopt's last result (0 or -errno). binding.test.ts runs it as load during rmmod.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "../../kmod/uapi/toa.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long i, iters = argc > 1 ? atol(argv[1]) : 1000000;
	long opt_iters = argc > 2 ? atol(argv[2]) : iters;
	struct sockaddr_storage addr;
	struct toa_peer_info info;
	socklen_t len;
	double t0, peer_ns, opt_ns;
	int r = 0;

	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		len = sizeof(addr);
		if (getpeername(3, (struct sockaddr *)&addr, &len)) {
			perror("getpeername(3)");
			return 1;
		}
	}
	peer_ns = (now_ns() - t0) / iters;
	t0 = now_ns();
	for (i = 0; i < opt_iters; i++) {
		len = sizeof(info);
		r = getsockopt(3, IPPROTO_IP, TOA_SO_GET_PEER, &info, &len) ? -errno : 0;
	}
	opt_ns = (now_ns() - t0) / opt_iters;
	printf("{\"getpeername_ns\":%.1f,\"getsockopt_ns\":%.1f,\"getsockopt\":%d}\n", peer_ns, opt_ns, r);
	return 0;
}
