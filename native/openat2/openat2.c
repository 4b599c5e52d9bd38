// Minimal Node-API addon: openat2(2) with a retry on EAGAIN, synchronous and on the libuv
// threadpool (a lookup on a hung mount blocks there, never on the event loop), a support probe,
// and renameat2(2) (for RENAME_NOREPLACE: a rename that never replaces an existing name).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316
#endif

// An Error with .code = errno name and .errno = -errno, as node:fs makes them.
static napi_value errno_error(napi_env env, int e) {
  napi_value code, msg, err, no;
#ifdef __GLIBC__
  const char *name = strerrorname_np(e);
#else
  const char *name = NULL; // the JS wrapper derives .code from .errno anyway
#endif
  napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_create_int32(env, -e, &no); napi_set_named_property(env, err, "errno", no);
  return err;
}

static napi_value throw_errno(napi_env env, int e) {
  napi_throw(env, errno_error(env, e)); return NULL;
}

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
fail:
  return throw_errno(env, errno);
}

// openat2Async(dirfd, path, flags, mode, resolve): Promise<fd>, the syscall on the threadpool.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int dirfd;
  uint64_t flags, mode, resolve;
  long fd;
  int err;
  char path[4097];
} open_job;

static void open_execute(napi_env env, void *data) {
  (void)env; open_job *job = data;
  job->fd = do_openat2(job->dirfd, job->path, job->flags, job->mode, job->resolve);
  job->err = job->fd < 0 ? errno : 0;
}

static void open_complete(napi_env env, napi_status status, void *data) {
  open_job *job = data; napi_value out;
  if (status != napi_ok) {
    // cancelled before it ran: nothing was opened
    napi_reject_deferred(env, job->deferred, errno_error(env, ECANCELED));
  } else if (job->fd < 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err));
  } else {
    napi_create_int32(env, (int32_t)job->fd, &out);
    napi_resolve_deferred(env, job->deferred, out);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_openat2_async(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5], promise, name; int32_t dirfd; int64_t flags, mode, resolve; size_t len;
  open_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], job->path, sizeof job->path, &len) != napi_ok ||
      napi_get_value_int64(env, argv[2], &flags) != napi_ok ||
      napi_get_value_int64(env, argv[3], &mode) != napi_ok ||
      napi_get_value_int64(env, argv[4], &resolve) != napi_ok) {
    free(job);
    napi_throw_type_error(env, "EINVAL", "openat2Async(dirfd, path, flags, mode, resolve)"); return NULL;
  }
  int bad = len >= sizeof job->path - 1 ? ENAMETOOLONG : strlen(job->path) != len ? EINVAL : 0;
  if (bad) { free(job); return throw_errno(env, bad); }
  job->dirfd = dirfd; job->flags = (uint64_t)flags; job->mode = (uint64_t)mode; job->resolve = (uint64_t)resolve;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "openat2", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, open_execute, open_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    napi_reject_deferred(env, job->deferred, errno_error(env, EAGAIN));
    free(job);
  }
  return promise;
}

static napi_value js_supported(napi_env env, napi_callback_info info) {
  (void)info; napi_value out;
  long fd = do_openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) close((int)fd);
  napi_get_boolean(env, fd >= 0, &out); return out;
}

// renameat2(olddirfd, oldname, newdirfd, newname, flags): single names inside pinned directory fds.
static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5]; int32_t olddir, newdir, flags;
  char oldname[257], newname[257]; size_t l1, l2;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &olddir) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], oldname, sizeof oldname, &l1) != napi_ok ||
      napi_get_value_int32(env, argv[2], &newdir) != napi_ok ||
      napi_get_value_string_utf8(env, argv[3], newname, sizeof newname, &l2) != napi_ok ||
      napi_get_value_int32(env, argv[4], &flags) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "renameat2(olddirfd, oldname, newdirfd, newname, flags)"); return NULL;
  }
  if (l1 >= sizeof oldname - 1 || l2 >= sizeof newname - 1) return throw_errno(env, ENAMETOOLONG);
  if (strlen(oldname) != l1 || strlen(newname) != l2 || strchr(oldname, '/') || strchr(newname, '/')) return throw_errno(env, EINVAL);
  if (syscall(SYS_renameat2, olddir, oldname, newdir, newname, (unsigned)flags) < 0) return throw_errno(env, errno);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "openat2", NAPI_AUTO_LENGTH, js_openat2, NULL, &f);
  napi_set_named_property(env, exports, "openat2", f);
  napi_create_function(env, "openat2Async", NAPI_AUTO_LENGTH, js_openat2_async, NULL, &f);
  napi_set_named_property(env, exports, "openat2Async", f);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, js_supported, NULL, &f);
  napi_set_named_property(env, exports, "supported", f);
  napi_create_function(env, "renameat2", NAPI_AUTO_LENGTH, js_renameat2, NULL, &f);
  napi_set_named_property(env, exports, "renameat2", f);
  return exports;
}
