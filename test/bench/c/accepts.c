// Loopback handshakes, one after another: connect(), accept(), close both (the client with an
// RST, so no TIME-WAIT piles up). Prints {"per_sec": N} for ITERS handshakes.
// Usage: accepts PORT ITERS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: accepts PORT ITERS\n");
		return 2;
	}
	int port = atoi(argv[1]), iters = atoi(argv[2]), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct timespec t0, t1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 128))
		die("listen");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < iters; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
			die("connect");
		int s = accept(l, NULL, NULL);
		if (s < 0)
			die("accept");
		if (setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)))
			die("SO_LINGER");
		close(c);
		close(s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("{\"per_sec\": %.0f}\n", iters / secs);
	return 0;
}
