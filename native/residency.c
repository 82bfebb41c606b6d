/*
 * residentFraction(fd, offset, length) -> the share (0..1) of the file's pages in
 * [offset, offset + length) that are in the page cache, by mincore(2) over a read-only mapping.
 * Downloads (src/http/file-response.ts) use it to choose: sendfile for cached images, O_DIRECT
 * reads for the first download of uncached ones (bench/README.md, "Image data").
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addon.h"

napi_value glimpse_resident_fraction(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  int64_t offset, length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok || napi_get_value_int64(env, argv[2], &length) != napi_ok || fd < 0 || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "residentFraction(fd, offset, length)");
    return NULL;
  }
  napi_value result;
  if (length == 0) {
    napi_create_double(env, 1.0, &result);
    return result;
  }
  int64_t page = sysconf(_SC_PAGESIZE);
  int64_t start = offset - offset % page;
  size_t span = (size_t)(offset + length - start);
  size_t pages = (span + (size_t)page - 1) / (size_t)page;
  unsigned char *vector = malloc(pages);
  if (vector == NULL) {
    napi_throw_error(env, NULL, "residentFraction: out of memory");
    return NULL;
  }
  void *map = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, (off_t)start);
  if (map == MAP_FAILED) {
    int error = errno;
    free(vector);
    napi_throw_error(env, NULL, strerror(error));
    return NULL;
  }
  int failed = mincore(map, span, vector);
  int error = errno;
  munmap(map, span);
  if (failed != 0) {
    free(vector);
    napi_throw_error(env, NULL, strerror(error));
    return NULL;
  }
  size_t resident = 0;
  for (size_t i = 0; i < pages; i++) resident += vector[i] & 1;
  free(vector);
  napi_create_double(env, (double)resident / (double)pages, &result);
  return result;
}
