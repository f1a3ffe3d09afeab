// SPDX-License-Identifier: MIT
/*
 * Bench helper: the bare syscalls under originalPeer(), in C, on the socket inherited as fd 3.
 * Usage: syscall ITERS. Prints one JSON line: ns per getpeername() and per
 * getsockopt(IPPROTO_IP, TOA_SO_GET_PEER), and that getsockopt's result (0 or -errno).
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
	for (i = 0; i < iters; i++) {
		len = sizeof(info);
		r = getsockopt(3, IPPROTO_IP, TOA_SO_GET_PEER, &info, &len) ? -errno : 0;
	}
	opt_ns = (now_ns() - t0) / iters;
	printf("{\"getpeername_ns\":%.1f,\"getsockopt_ns\":%.1f,\"getsockopt\":%d}\n", peer_ns, opt_ns, r);
	return 0;
}
