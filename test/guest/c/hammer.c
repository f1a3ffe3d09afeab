// SPDX-License-Identifier: GPL-2.0
/*
 * Lab helper for the unload cycles: accept connections for as long as it runs, and call
 * getpeername() on them from T threads meanwhile, judging every answer.
 * Usage: hammer PORT THREADS SLOTS LB4 LB6 CLIENT4 CLIENT6
 * Listens on [::]:PORT (dual stack). The load balancer connects from LB4/LB6 with source port
 * P and a TOA naming CLIENT4/CLIENT6 with its low 16 bits set to P, port P: so an answer is
 * right only when it is that client or the LB itself, both with port P. Anything else (another
 * connection's client, garbage, an error but ENOTCONN) is wrong.
 * The newest SLOTS connections stay open; the one an accept replaces is closed.
 * stdin: "report" prints one JSON line of counts; "drop" closes every connection; EOF exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct slot {
	pthread_rwlock_t lock;
	int fd;
	struct sockaddr_in6 client, lb;
};

struct counts {
	long calls, toa, lb, gone, wrong;
};

static struct slot *slots;
static int nslots;
static struct in6_addr lb4, lb6, client4, client6;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counts total;
static long accepted, accepted_wrong;
static char first_wrong[160];

static int parse_addr(const char *text, int v4, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!v4)
		return inet_pton(AF_INET6, text, a) == 1 ? 0 : -1;
	/* ::ffff:a.b.c.d, as a dual-stack socket reports an IPv4 peer */
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	return inet_pton(AF_INET, text, &a->s6_addr[12]) == 1 ? 0 : -1;
}

static int same(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return a->sin6_family == b->sin6_family && a->sin6_port == b->sin6_port &&
	       !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
}

static void note_wrong(const char *what, const struct sockaddr_in6 *a, const struct slot *s)
{
	char got[INET6_ADDRSTRLEN] = "?", want[INET6_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET6, &a->sin6_addr, got, sizeof(got));
	inet_ntop(AF_INET6, &s->client.sin6_addr, want, sizeof(want));
	pthread_mutex_lock(&lock);
	if (!first_wrong[0])
		snprintf(first_wrong, sizeof(first_wrong), "%s: got %s port %u, client %s port %u",
			 what, got, ntohs(a->sin6_port), want, ntohs(s->client.sin6_port));
	pthread_mutex_unlock(&lock);
}

/* What the TOA client and the LB look like for a connection from LB port P. */
static void expect(struct slot *s, const struct sockaddr_in6 *peer)
{
	int v4 = IN6_IS_ADDR_V4MAPPED(&peer->sin6_addr);

	memset(&s->client, 0, sizeof(s->client));
	s->client.sin6_family = AF_INET6;
	s->client.sin6_port = peer->sin6_port;
	s->client.sin6_addr = v4 ? client4 : client6;
	memcpy(&s->client.sin6_addr.s6_addr[14], &peer->sin6_port, 2);
	s->lb = s->client;
	s->lb.sin6_addr = v4 ? lb4 : lb6;
}

static void *acceptor(void *arg)
{
	int lfd = (int)(long)arg;
	long n;

	for (n = 0;; n++) {
		struct sockaddr_in6 a;
		socklen_t len = sizeof(a);
		struct slot *s = &slots[n % nslots];
		int fd = accept4(lfd, (struct sockaddr *)&a, &len, SOCK_CLOEXEC);

		if (fd < 0) {
			perror("accept4");
			exit(1);
		}
		pthread_rwlock_wrlock(&s->lock);
		if (s->fd >= 0)
			close(s->fd);
		s->fd = fd;
		expect(s, &a);
		pthread_rwlock_unlock(&s->lock);
		pthread_mutex_lock(&lock);
		accepted++;
		pthread_mutex_unlock(&lock);
		if (!same(&a, &s->client) && !same(&a, &s->lb)) {
			note_wrong("accept4", &a, s);
			pthread_mutex_lock(&lock);
			accepted_wrong++;
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

static void judge(struct slot *s, struct counts *c)
{
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);

	c->calls++;
	if (getpeername(s->fd, (struct sockaddr *)&a, &len)) {
		if (errno == ENOTCONN) {
			c->gone++;
			return;
		}
		c->wrong++;
		memset(&a, 0, sizeof(a));
		note_wrong(strerror(errno), &a, s);
		return;
	} else if (same(&a, &s->client)) {
		c->toa++;
		return;
	} else if (same(&a, &s->lb)) {
		c->lb++;
		return;
	}
	c->wrong++;
	note_wrong("getpeername", &a, s);
}

static void add(struct counts *c)
{
	pthread_mutex_lock(&lock);
	total.calls += c->calls;
	total.toa += c->toa;
	total.lb += c->lb;
	total.gone += c->gone;
	total.wrong += c->wrong;
	pthread_mutex_unlock(&lock);
	memset(c, 0, sizeof(*c));
}

static void *hammer(void *arg)
{
	unsigned int seed = (unsigned int)(long)arg;
	struct counts c = { 0 };
	long i;

	for (i = 1;; i++) {
		struct slot *s = &slots[rand_r(&seed) % nslots];

		pthread_rwlock_rdlock(&s->lock);
		if (s->fd >= 0)
			judge(s, &c);
		pthread_rwlock_unlock(&s->lock);
		/*
		 * Under TCG a call costs ~10 us: unpaced, four threads would starve the
		 * load balancer, the servers and the RCU grace periods rmmod waits for.
		 */
		if (i % 8 == 0) {
			add(&c);
			usleep(2000);
		}
	}
	return NULL;
}

static void report(void)
{
	pthread_mutex_lock(&lock);
	printf("{\"accepted\":%ld,\"accepted_wrong\":%ld,\"calls\":%ld,\"toa\":%ld,\"lb\":%ld,",
	       accepted, accepted_wrong, total.calls, total.toa, total.lb);
	printf("\"gone\":%ld,\"wrong\":%ld,\"first_wrong\":\"%s\"}\n", total.gone, total.wrong,
	       first_wrong);
	pthread_mutex_unlock(&lock);
	fflush(stdout);
}

static void drop(void)
{
	int i;

	for (i = 0; i < nslots; i++) {
		pthread_rwlock_wrlock(&slots[i].lock);
		if (slots[i].fd >= 0)
			close(slots[i].fd);
		slots[i].fd = -1;
		pthread_rwlock_unlock(&slots[i].lock);
	}
}

static int listen_on(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int fd = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024)) {
		perror("hammer: listen");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	char line[64];
	pthread_t t;
	int i, nthreads, lfd;

	if (argc != 8) {
		fprintf(stderr, "usage: hammer PORT THREADS SLOTS LB4 LB6 CLIENT4 CLIENT6\n");
		return 2;
	}
	nthreads = atoi(argv[2]);
	nslots = atoi(argv[3]);
	if (nthreads < 1 || nslots < 1 || parse_addr(argv[4], 1, &lb4) || parse_addr(argv[5], 0, &lb6) ||
	    parse_addr(argv[6], 1, &client4) || parse_addr(argv[7], 0, &client6)) {
		fprintf(stderr, "hammer: bad THREADS, SLOTS or address (want e.g. 4 64 198.51.100.2 2001:db8:1::2 10.77.0.0 2001:db8:77::)\n");
		return 2;
	}
	slots = calloc(nslots, sizeof(*slots));
	for (i = 0; i < nslots; i++) {
		pthread_rwlock_init(&slots[i].lock, NULL);
		slots[i].fd = -1;
	}
	lfd = listen_on(atoi(argv[1]));
	pthread_create(&t, NULL, acceptor, (void *)(long)lfd);
	for (i = 0; i < nthreads; i++)
		pthread_create(&t, NULL, hammer, (void *)(long)(i + 1));
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "report", 6))
			report();
		else if (!strncmp(line, "drop", 4))
			drop();
	}
	report();
	return 0;
}
