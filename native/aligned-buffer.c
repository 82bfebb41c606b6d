/*
 * Memory aligned for direct I/O. A file opened with O_DIRECT takes writes only from buffers
 * whose address is a multiple of the device's logical block size; V8 and malloc promise 16
 * bytes at most, and JavaScript cannot see an address to correct it. The file store's direct
 * writes (src/stores/file/direct-writer.ts) fill these buffers instead.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdint.h>
#include <stdlib.h>

#include "addon.h"

static void free_aligned(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* alignedBuffer(size, alignment) -> ArrayBuffer whose first byte is at a multiple of alignment */
napi_value glimpse_aligned_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t size, alignment;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_get_value_int64(env, argv[0], &size) != napi_ok ||
      napi_get_value_int64(env, argv[1], &alignment) != napi_ok) {
    napi_throw_type_error(env, NULL, "alignedBuffer(size, alignment)");
    return NULL;
  }
  /* A power of two, at least a pointer, at most a huge page; sizes up to 1 GiB. */
  if (alignment < (int64_t)sizeof(void *) || alignment > (1 << 21) || (alignment & (alignment - 1)) != 0 || size <= 0 || size > (1 << 30)) {
    napi_throw_range_error(env, NULL, "alignedBuffer: size must be 1..2^30 and alignment a power of two up to 2 MiB");
    return NULL;
  }
  void *memory = NULL;
  if (posix_memalign(&memory, (size_t)alignment, (size_t)size) != 0) {
    napi_throw_error(env, NULL, "alignedBuffer: out of memory");
    return NULL;
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, memory, (size_t)size, free_aligned, NULL, &buffer) != napi_ok) {
    free(memory);
    napi_throw_error(env, NULL, "alignedBuffer: external buffers are not allowed in this runtime");
    return NULL;
  }
  return buffer;
}

/*
 * alignedOffset(view, alignment) -> how many bytes past the start of a Uint8Array its first
 * multiple-of-alignment address lies. Shared memory (SharedArrayBuffer) cannot be allocated
 * aligned from C, so the upload reader over-allocates it and starts its buffers here.
 */
napi_value glimpse_aligned_offset(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t alignment;
  bool is_typedarray = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_is_typedarray(env, argv[0], &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_value_int64(env, argv[1], &alignment) != napi_ok) {
    napi_throw_type_error(env, NULL, "alignedOffset(view, alignment)");
    return NULL;
  }
  if (alignment < 1 || alignment > (1 << 21) || (alignment & (alignment - 1)) != 0) {
    napi_throw_range_error(env, NULL, "alignedOffset: alignment must be a power of two up to 2 MiB");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array || data == NULL) {
    napi_throw_type_error(env, NULL, "alignedOffset: expected a non-empty Uint8Array");
    return NULL;
  }
  uintptr_t address = (uintptr_t)data;
  uintptr_t mask = (uintptr_t)alignment - 1;
  napi_value result;
  napi_create_int64(env, (int64_t)(((address + mask) & ~mask) - address), &result);
  return result;
}
