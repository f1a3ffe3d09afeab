// SPDX-License-Identifier: GPL-2.0
/*
 * Lab helper: accept N connections with accept4(), then call getpeername() on them from
 * T threads, I times each, comparing every answer with what accept4() returned.
 * Usage: peers FAMILY(4|6) PORT N THREADS ITERS
 * Prints "ready" when listening, then one JSON line:
 * {"accepted":["addr port",...],"wrong":W,"calls":C,"ns_per_call":X}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct peer {
	int fd;
	struct sockaddr_storage addr;
	socklen_t len;
};

static struct peer *peers;
static int npeers, iters;
static long wrong;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *hammer(void *arg)
{
	long bad = 0;
	int i, t = (int)(long)arg;

	for (i = 0; i < iters; i++) {
		struct peer *p = &peers[(i + t) % npeers];
		struct sockaddr_storage a;
		socklen_t len = sizeof(a);

		if (getpeername(p->fd, (struct sockaddr *)&a, &len) || len != p->len ||
		    memcmp(&a, &p->addr, len))
			bad++;
	}
	pthread_mutex_lock(&lock);
	wrong += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void print_addr(const struct sockaddr_storage *a)
{
	char text[INET6_ADDRSTRLEN];

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)a;

		inet_ntop(AF_INET, &s->sin_addr, text, sizeof(text));
		printf("\"%s %u\"", text, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const void *)a;

		inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof(text));
		printf("\"%s %u\"", text, ntohs(s->sin6_port));
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage bind_addr = { 0 };
	struct timespec t0, t1;
	pthread_t *threads;
	int fam, port, nthreads, lfd, i, one = 1, zero = 0;
	double ns;

	if (argc != 6) {
		fprintf(stderr, "usage: peers FAMILY(4|6) PORT N THREADS ITERS\n");
		return 2;
	}
	fam = atoi(argv[1]) == 6 ? AF_INET6 : AF_INET;
	port = atoi(argv[2]);
	npeers = atoi(argv[3]);
	nthreads = atoi(argv[4]);
	iters = atoi(argv[5]);
	peers = calloc(npeers, sizeof(*peers));
	threads = calloc(nthreads, sizeof(*threads));

	lfd = socket(fam, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6) {
		struct sockaddr_in6 *s = (void *)&bind_addr;

		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s = (void *)&bind_addr;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
	}
	if (bind(lfd, (struct sockaddr *)&bind_addr, sizeof(bind_addr)) || listen(lfd, 1024)) {
		perror("bind/listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (i = 0; i < npeers; i++) {
		peers[i].len = sizeof(peers[i].addr);
		peers[i].fd = accept4(lfd, (struct sockaddr *)&peers[i].addr, &peers[i].len, SOCK_CLOEXEC);
		if (peers[i].fd < 0) {
			perror("accept4");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, hammer, (void *)(long)i);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("{\"accepted\":[");
	for (i = 0; i < npeers; i++) {
		printf(i ? "," : "");
		print_addr(&peers[i].addr);
	}
	printf("],\"wrong\":%ld,\"calls\":%ld,\"ns_per_call\":%.1f}\n", wrong,
	       (long)nthreads * iters, ns / ((double)nthreads * iters) * nthreads);
	return 0;
}
