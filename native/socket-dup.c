/*
 * dupSocket(fd) -> a second descriptor of a connected socket, close-on-exec. The upload reader
 * (src/http/socket-body.ts) reads a request body through its own net.Socket on this copy, so
 * that closing it never closes, or frees for reuse, the descriptor Node's HTTP server holds.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "addon.h"

napi_value glimpse_dup_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "dupSocket(fd)");
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    napi_throw_error(env, "ENOTSOCK", "dupSocket: not a socket");
    return NULL;
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, copy, &result);
  return result;
}
