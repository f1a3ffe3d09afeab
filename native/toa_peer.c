// SPDX-License-Identifier: MIT
/* The thin N-API shim under src/binding: two syscalls on an fd, into the caller's buffer. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <node_api.h>

#include "../kmod/uapi/toa.h"

/* (fd, level, buf) and (fd, buf): a number and a Buffer, both checked. */
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

static napi_value result(napi_env env, int32_t value)
{
	napi_value out;

	napi_create_int32(env, value, &out);
	return out;
}

/* getsockopt(fd, level, TOA_SO_GET_PEER): bytes filled, or -errno. */
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
		{ "peerInfo", NULL, peer_info, NULL, NULL, NULL, napi_default, NULL },
		{ "peerName", NULL, peer_name, NULL, NULL, NULL, napi_default, NULL },
	};

	napi_define_properties(env, exports, 2, props);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
