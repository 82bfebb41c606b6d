/*
 * Glimpse's native addon: what Node cannot do for the image data path.
 * send(): sendfile(2) downloads (native/sendfile.c); alignedBuffer() and alignedOffset():
 * memory for O_DIRECT writes (native/aligned-buffer.c); dupSocket(): a second descriptor of a
 * connection, for reading upload bodies (native/socket-dup.c); residentFraction(): how much of
 * a file is in the page cache (native/residency.c). Built by `npm install` from binding.gyp.
 */
#include "addon.h"

static void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  export_function(env, exports, "send", glimpse_sendfile);
  export_function(env, exports, "alignedBuffer", glimpse_aligned_buffer);
  export_function(env, exports, "alignedOffset", glimpse_aligned_offset);
  export_function(env, exports, "dupSocket", glimpse_dup_socket);
  export_function(env, exports, "residentFraction", glimpse_resident_fraction);
  return exports;
}
