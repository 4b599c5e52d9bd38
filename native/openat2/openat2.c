// Minimal Node-API addon: openat2(2) with a retry on EAGAIN, plus a support probe.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static long do_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
  long fd;
  int tries = 0;
  do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 16);
  return fd;
}

static napi_value js_openat2(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5], out; int32_t dirfd; int64_t flags, mode, resolve;
  char path[4097]; size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &len) != napi_ok ||
      napi_get_value_int64(env, argv[2], &flags) != napi_ok ||
      napi_get_value_int64(env, argv[3], &mode) != napi_ok ||
      napi_get_value_int64(env, argv[4], &resolve) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "openat2(dirfd, path, flags, mode, resolve)"); return NULL;
  }
  if (len >= sizeof path - 1 || strlen(path) != len) { errno = len >= sizeof path - 1 ? ENAMETOOLONG : EINVAL; goto fail; }
  long fd = do_openat2(dirfd, path, (uint64_t)flags, (uint64_t)mode, (uint64_t)resolve);
  if (fd < 0) goto fail;
  napi_create_int32(env, (int32_t)fd, &out); return out;
fail: {
    int e = errno; napi_value code, msg, err, no;
#ifdef __GLIBC__
    const char *name = strerrorname_np(e);
#else
    const char *name = NULL; // the JS wrapper derives .code from .errno anyway
#endif
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_create_int32(env, -e, &no); napi_set_named_property(env, err, "errno", no);
    napi_throw(env, err); return NULL;
  }
}

static napi_value js_supported(napi_env env, napi_callback_info info) {
  (void)info; napi_value out;
  long fd = do_openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) close((int)fd);
  napi_get_boolean(env, fd >= 0, &out); return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "openat2", NAPI_AUTO_LENGTH, js_openat2, NULL, &f);
  napi_set_named_property(env, exports, "openat2", f);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, js_supported, NULL, &f);
  napi_set_named_property(env, exports, "supported", f);
  return exports;
}
