// SPDX-License-Identifier: MIT
/*
 * Bench helper: the bare syscalls under originalPeer(), in C, on the socket inherited as fd 3.
 * Usage: syscall ITERS [OPT_ITERS]. Prints one JSON line: ns per getpeername() and per
 * getsockopt(IPPROTO_IP, TOA_SO_GET_PEER) (OPT_ITERS of them, default ITERS), and that
 * getsockopt's last result (0 or -errno), then ns per getpeername() again with a second thread
 * alive: a threaded process (every Node process is one) pays for a reference on the file at each
 * fd lookup, which a single-threaded one skips. binding.test.ts runs it as load during rmmod.
 */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../kmod/uapi/toa.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static double getpeername_ns(long iters)
{
	struct sockaddr_storage addr;
	socklen_t len;
	double t0;
	long i;

	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		len = sizeof(addr);
		if (getpeername(3, (struct sockaddr *)&addr, &len)) {
			perror("getpeername(3)");
			exit(1);
		}
	}
	return (now_ns() - t0) / iters;
}

int main(int argc, char **argv)
{
	long i, iters = argc > 1 ? atol(argv[1]) : 1000000;
	long opt_iters = argc > 2 ? atol(argv[2]) : iters;
	struct toa_peer_info info;
	double t0, peer_ns, opt_ns, threaded_ns;
	pthread_t thread;
	socklen_t len;
	int r = 0;

	peer_ns = getpeername_ns(iters);
	t0 = now_ns();
	for (i = 0; i < opt_iters; i++) {
		len = sizeof(info);
		r = getsockopt(3, IPPROTO_IP, TOA_SO_GET_PEER, &info, &len) ? -errno : 0;
	}
	opt_ns = (now_ns() - t0) / opt_iters;
	if (pthread_create(&thread, NULL, idle, NULL)) {
		perror("pthread_create");
		return 1;
	}
	threaded_ns = getpeername_ns(iters);
	printf("{\"getpeername_ns\":%.1f,\"getsockopt_ns\":%.1f,\"getsockopt\":%d,\"threaded_getpeername_ns\":%.1f}\n",
	       peer_ns, opt_ns, r, threaded_ns);
	return 0;
}
