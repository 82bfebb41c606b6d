/* The functions of Glimpse's native addon (native/addon.c registers them). */
#ifndef GLIMPSE_ADDON_H
#define GLIMPSE_ADDON_H
#define NAPI_VERSION 8
#include <node_api.h>

napi_value glimpse_sendfile(napi_env env, napi_callback_info info);
napi_value glimpse_aligned_buffer(napi_env env, napi_callback_info info);
napi_value glimpse_aligned_offset(napi_env env, napi_callback_info info);
napi_value glimpse_dup_socket(napi_env env, napi_callback_info info);
napi_value glimpse_resident_fraction(napi_env env, napi_callback_info info);

#endif
