/*
 * Zero-copy image downloads: sendfile(2) from a stored image file to a client's TCP socket,
 * run on libuv's thread pool so the event loop never waits on the disk or on a slow client.
 *
 * Why native code: Node exposes no sendfile, and copying each byte into user space and back
 * (read + write) is what bounds a streaming download (bench/README.md, "Image data").
 *
 * Safety rules this file keeps:
 * - The socket and the file are dup(2)ed before the thread pool sees them, so if JavaScript
 *   closes either while a transfer runs, the number is never reused under us: the worst case
 *   is bytes sent to the socket the response was for, which is then being torn down anyway.
 * - One call sends at most `count` bytes and waits for the socket at most `timeout_ms` at a
 *   time; it returns what it managed, so JavaScript stays in control of stalled clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "addon.h"

/* Bytes per sendfile(2) call, and the unit of read-ahead advice. */
#define READ_WINDOW ((int64_t)4 << 20)

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int socket_fd; /* our dup of the socket */
  int file_fd;   /* our dup of the file */
  int64_t offset;
  int64_t count;
  int timeout_ms;
  int64_t sent;
  int error;     /* errno of the failure, 0 when none */
  int stalled;   /* the socket stayed unwritable for timeout_ms */
  int short_file;/* the file ended before count bytes */
} Transfer;

static void transfer_execute(napi_env env, void *data) {
  (void)env;
  Transfer *t = data;
  const int64_t end = t->offset + t->count;
  int64_t advised = t->offset; /* WILLNEED has been given up to here */
  while (t->sent < t->count) {
    int64_t position = t->offset + t->sent;
    /*
     * An image not in the page cache is read from disk as it is sent. Asking the kernel to read
     * a few windows ahead keeps the disk busy while the socket drains: a freshly written image
     * (O_DIRECT, so not cached) went from ~250 to ~650 MiB/s here. Advice only; when the pages
     * are cached it costs a page-cache lookup.
     */
    int64_t want_advised = position + 3 * READ_WINDOW < end ? position + 3 * READ_WINDOW : end;
    if (want_advised > advised) {
      (void)posix_fadvise(t->file_fd, (off_t)advised, (off_t)(want_advised - advised), POSIX_FADV_WILLNEED);
      advised = want_advised;
    }
    off_t offset = (off_t)position;
    int64_t left = t->count - t->sent;
    size_t want = left > READ_WINDOW ? (size_t)READ_WINDOW : (size_t)left;
    ssize_t n = sendfile(t->socket_fd, t->file_fd, &offset, want);
    if (n > 0) {
      t->sent += n;
      continue;
    }
    if (n == 0) {
      t->short_file = 1;
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      t->error = errno;
      return;
    }
    struct pollfd p = {.fd = t->socket_fd, .events = POLLOUT, .revents = 0};
    int ready = poll(&p, 1, t->timeout_ms);
    if (ready == 0) {
      t->stalled = 1;
      return;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      t->error = errno;
      return;
    }
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
      t->error = EPIPE;
      return;
    }
  }
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

static void transfer_complete(napi_env env, napi_status status, void *data) {
  Transfer *t = data;
  close(t->socket_fd);
  close(t->file_fd);
  napi_value result;
  napi_create_object(env, &result);
  set_number(env, result, "sent", (double)t->sent);
  napi_value flag;
  napi_get_boolean(env, t->stalled != 0, &flag);
  napi_set_named_property(env, result, "stalled", flag);
  napi_get_boolean(env, t->short_file != 0, &flag);
  napi_set_named_property(env, result, "shortFile", flag);
  if (status != napi_ok || t->error != 0) {
    napi_value message, error;
    napi_create_string_utf8(env, status != napi_ok ? "sendfile was cancelled" : strerror(t->error), NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    set_number(env, error, "errno", (double)t->error);
    napi_set_named_property(env, error, "progress", result);
    napi_reject_deferred(env, t->deferred, error);
  } else {
    napi_resolve_deferred(env, t->deferred, result);
  }
  napi_delete_async_work(env, t->work);
  free(t);
}

static napi_value throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* send(socketFd, fileFd, offset, count, timeoutMs) -> Promise<{ sent, stalled, shortFile }> */
napi_value glimpse_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) return throw_type_error(env, "send(socketFd, fileFd, offset, count, timeoutMs)");
  int32_t socket_fd, file_fd, timeout_ms;
  int64_t offset, count;
  if (napi_get_value_int32(env, argv[0], &socket_fd) != napi_ok || napi_get_value_int32(env, argv[1], &file_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &count) != napi_ok ||
      napi_get_value_int32(env, argv[4], &timeout_ms) != napi_ok)
    return throw_type_error(env, "send: arguments must be numbers");
  if (socket_fd < 0 || file_fd < 0 || offset < 0 || count < 0 || timeout_ms < 0) return throw_type_error(env, "send: arguments must not be negative");

  Transfer *t = calloc(1, sizeof(Transfer));
  if (t == NULL) return throw_type_error(env, "send: out of memory");
  t->socket_fd = fcntl(socket_fd, F_DUPFD_CLOEXEC, 0);
  t->file_fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
  if (t->socket_fd < 0 || t->file_fd < 0) {
    int saved = errno;
    if (t->socket_fd >= 0) close(t->socket_fd);
    if (t->file_fd >= 0) close(t->file_fd);
    free(t);
    napi_throw_error(env, NULL, strerror(saved));
    return NULL;
  }
  t->offset = offset;
  t->count = count;
  t->timeout_ms = timeout_ms;

  napi_value promise, name;
  napi_create_promise(env, &t->deferred, &promise);
  napi_create_string_utf8(env, "glimpse:sendfile", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, transfer_execute, transfer_complete, t, &t->work);
  napi_queue_async_work(env, t->work);
  return promise;
}
