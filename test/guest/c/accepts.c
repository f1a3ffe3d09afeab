// SPDX-License-Identifier: GPL-2.0
/*
 * Lab helper (bench): accept rate over loopback. Connects to its own 127.0.0.1 listener N times,
 * accept4() with the address each time, then resets and closes both ends (no TIME_WAIT).
 * Usage: accepts PORT N      Prints one JSON line: {"accepts":N,"per_second":X}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct timespec t0, t1;
	int lfd, n, i, one = 1;
	double s;

	if (argc != 3) {
		fprintf(stderr, "usage: accepts PORT N\n");
		return 2;
	}
	n = atoi(argv[2]);
	addr.sin_port = htons(atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 128)) {
		perror("bind/listen");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int c = socket(AF_INET, SOCK_STREAM, 0), a;

		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
			perror("connect");
			return 1;
		}
		a = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (a < 0 || peer.sin_addr.s_addr != addr.sin_addr.s_addr) {
			perror("accept4");
			return 1;
		}
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(c);
		close(a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("{\"accepts\":%d,\"per_second\":%.1f}\n", n, n / s);
	return 0;
}
