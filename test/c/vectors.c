// SPDX-License-Identifier: GPL-2.0
/* Run kmod/toa_parse.c on "FORMATS HEX" lines (test/vectors/README.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toa_parse.h"

/* Longer than any option block so too-long is reachable. */
#define BLOCK_MAX 4096

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Spaces inside HEX are allowed, as in the vector files. */
static int unhex(const char *s, u8 *out, unsigned int *len)
{
	unsigned int n = 0;
	int hi = -1, v;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\t')
			continue;
		v = hexval((unsigned char)*s);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == BLOCK_MAX)
			return -1;
		out[n++] = (u8)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -1;
	*len = n;
	return 0;
}

static void print_hex(const u8 *b, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static unsigned int port(toa_be16 p)
{
	const u8 *b = (const u8 *)&p;

	return (unsigned int)b[0] << 8 | b[1];
}

static void print_result(int ret, const struct toa_addr *a)
{
	if (ret < 0) {
		printf("error %s\n", toa_err_name(ret));
		return;
	}
	if (!ret) {
		printf("none\n");
		return;
	}
	printf("toa %s %u ", toa_format_name(a->format), a->family);
	print_hex(a->addr, a->family == 4 ? 4 : 16);
	if (a->flags & TOA_HAS_PORT)
		printf(" %u", port(a->port));
	else
		printf(" -");
	printf(" %u", a->offset);
	if (a->flags & TOA_HAS_VIP) {
		printf(" vip ");
		print_hex(a->vip, 4);
		printf(" %u", port(a->vport));
	}
	printf("\n");
}

int main(void)
{
	static u8 block[BLOCK_MAX];
	struct toa_addr a;
	unsigned int len, lineno = 0;
	char *line = NULL, *hex;
	size_t cap = 0;
	ssize_t n;
	u32 formats;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		hex = strchr(line, ' ');
		if (hex)
			*hex++ = '\0';
		else
			hex = line + n;
		if (!strcmp(line, "-")) {
			formats = TOA_FORMATS_DEFAULT;
		} else if (toa_parse_formats(line, &formats)) {
			fprintf(stderr, "vectors: line %u: bad formats '%s'\n",
				lineno, line);
			goto bad;
		}
		if (unhex(hex, block, &len)) {
			fprintf(stderr, "vectors: line %u: bad hex '%s'\n",
				lineno, hex);
			goto bad;
		}
		print_result(toa_parse(block, len, formats, &a), &a);
		fflush(stdout);
	}
	free(line);
	return 0;
bad:
	free(line);
	return 2;
}
