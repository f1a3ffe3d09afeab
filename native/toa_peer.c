// SPDX-License-Identifier: MIT
/* The thin N-API shim under src/binding: the syscalls of one lookup, into the caller's buffers. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <node_api.h>

#include "../kmod/uapi/toa.h"

/* How long one ENOPROTOOPT (toa.ko not loaded) is believed before getsockopt probes again. */
#define ABSENT_NS 1000000000LL
/* lookup(): the raw peer was filled; bits 16..29 carry getsockopt's errno (0: not asked). */
#define VIA_PEER 0x40000000

/* The two buffers JS registered once (lookupWith), so a lookup passes only numbers. */
struct bufs {
	void *info;
	socklen_t info_len;
	void *addr;
	socklen_t addr_len;
	napi_ref refs[2];
};

/* CLOCK_MONOTONIC_COARSE ns until which toa.ko counts as absent; process-wide, 0: never seen. */
static int64_t absent_until;

/* COARSE: the vDSO answers it from the tick without reading a clocksource. */
static int64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int absent(void)
{
	int64_t until = __atomic_load_n(&absent_until, __ATOMIC_RELAXED);

	return until && coarse_ns() < until;
}

/* getsockopt(TOA_SO_GET_PEER), else getpeername: see VIA_PEER and src/binding/syscalls.ts. */
static int32_t lookup_fd(const struct bufs *b, int fd, int level)
{
	socklen_t len = b->info_len;
	int err = 0;

	if (!absent()) {
		if (!getsockopt(fd, level, TOA_SO_GET_PEER, b->info, &len))
			return (int32_t)len;
		err = errno;
		if (err == EBADF || err == ENOTSOCK)
			return -err;
		if (err == ENOPROTOOPT)
			__atomic_store_n(&absent_until, coarse_ns() + ABSENT_NS, __ATOMIC_RELAXED);
	}
	len = b->addr_len;
	if (getpeername(fd, (struct sockaddr *)b->addr, &len))
		return -errno;
	return VIA_PEER | (err & 0x3fff) << 16 | (int32_t)len;
}

static napi_value result(napi_env env, int32_t value)
{
	napi_value out;

	napi_create_int32(env, value, &out);
	return out;
}

static napi_value throw_usage(napi_env env, const char *usage)
{
	napi_throw_type_error(env, NULL, usage);
	return NULL;
}

/* lookup(fd, level) as lookupWith bound it: two int32s in, one out, no buffer checks per call. */
static napi_value lookup(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	size_t argc = 2;
	int32_t fd, level;
	void *data;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok || argc != 2 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_get_value_int32(env, argv[1], &level) != napi_ok)
		return throw_usage(env, "toa_peer: expected (fd, level) as numbers");
	return result(env, lookup_fd(data, fd, level));
}

static int buffer_arg(napi_env env, napi_value v, void **data, socklen_t *len, napi_ref *ref)
{
	size_t n;

	if (napi_get_buffer_info(env, v, data, &n) != napi_ok || n > INT32_MAX)
		return -1;
	*len = (socklen_t)n;
	/* The function keeps the buffer alive: it writes there on every call. */
	return napi_create_reference(env, v, 1, ref) == napi_ok ? 0 : -1;
}

/* The lookup function is gone (its env, e.g. a worker, ended): release the buffers. */
static void free_bufs(napi_env env, void *data, void *hint)
{
	struct bufs *b = data;
	int i;

	for (i = 0; i < 2; i++)
		if (b->refs[i])
			napi_delete_reference(env, b->refs[i]);
	free(b);
}

/* lookupWith(info, addr): a lookup(fd, level) that fills those two Buffers. */
static napi_value lookup_with(napi_env env, napi_callback_info info)
{
	napi_value argv[2], fn;
	struct bufs *b;
	size_t argc = 2;

	b = calloc(1, sizeof(*b));
	if (!b)
		return throw_usage(env, "toa_peer: out of memory");
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
	    buffer_arg(env, argv[0], &b->info, &b->info_len, &b->refs[0]) ||
	    buffer_arg(env, argv[1], &b->addr, &b->addr_len, &b->refs[1]) ||
	    napi_create_function(env, "lookup", NAPI_AUTO_LENGTH, lookup, b, &fn) != napi_ok)
		goto bad;
	if (napi_add_finalizer(env, fn, b, free_bufs, NULL, NULL) != napi_ok)
		goto bad;
	return fn;
bad:
	free_bufs(env, b, NULL);
	return throw_usage(env, "toa_peer: expected lookupWith(Buffer, Buffer)");
}

/* (fd, [level,] Buffer): a number or two and a Buffer, for the raw calls. */
static int args(napi_env env, napi_callback_info info, size_t want,
		int32_t *num, void **buf, size_t *len)
{
	napi_value argv[3];
	size_t argc = 3;
	size_t i;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != want)
		goto bad;
	for (i = 0; i + 1 < want; i++)
		if (napi_get_value_int32(env, argv[i], &num[i]) != napi_ok)
			goto bad;
	if (napi_get_buffer_info(env, argv[want - 1], buf, len) != napi_ok)
		goto bad;
	return 0;
bad:
	napi_throw_type_error(env, NULL, "toa_peer: expected (fd, [level,] Buffer)");
	return -1;
}

/* getsockopt(fd, level, TOA_SO_GET_PEER): bytes filled, or -errno. Never skipped. */
static napi_value peer_info(napi_env env, napi_callback_info info)
{
	int32_t num[2];
	socklen_t optlen;
	size_t len;
	void *buf;

	if (args(env, info, 3, num, &buf, &len))
		return NULL;
	optlen = (socklen_t)len;
	if (getsockopt(num[0], num[1], TOA_SO_GET_PEER, buf, &optlen))
		return result(env, -errno);
	return result(env, (int32_t)optlen);
}

/* getpeername(fd): sockaddr bytes filled, or -errno. */
static napi_value peer_name(napi_env env, napi_callback_info info)
{
	socklen_t addrlen;
	int32_t fd;
	size_t len;
	void *buf;

	if (args(env, info, 2, &fd, &buf, &len))
		return NULL;
	addrlen = (socklen_t)len;
	if (getpeername(fd, (struct sockaddr *)buf, &addrlen))
		return result(env, -errno);
	return result(env, (int32_t)addrlen);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "lookupWith", NULL, lookup_with, NULL, NULL, NULL, napi_default, NULL },
		{ "peerInfo", NULL, peer_info, NULL, NULL, NULL, napi_default, NULL },
		{ "peerName", NULL, peer_name, NULL, NULL, NULL, napi_default, NULL },
	};

	napi_define_properties(env, exports, 3, props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
