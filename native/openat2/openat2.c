// Minimal Node-API addon (paths as strings or as Buffers of raw bytes): openat2(2) with a retry on EAGAIN, synchronous and on the libuv
// threadpool (a lookup on a hung mount blocks there, never on the event loop), a support probe,
// renameat2(2) (for RENAME_NOREPLACE: a rename that never replaces an existing name),
// readDirStats: a batch of a directory's entries with their lstat, one threadpool job per batch, and
// commitFile: an uploaded temp file's owner, mode, time, fsync and name in one threadpool job.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <time.h>
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

// A path argument: a string (UTF-8) or a Buffer (a name's raw bytes, which need not be UTF-8).
// Copies it NUL-terminated into buf; napi_ok only when it fits and holds no NUL byte of its own.
static napi_status get_path(napi_env env, napi_value v, char *buf, size_t size, size_t *len) {
  bool is_buffer = false;
  napi_status st = napi_is_buffer(env, v, &is_buffer);
  if (st != napi_ok) return st;
  if (!is_buffer) {
    return napi_get_value_string_utf8(env, v, buf, size, len); // the caller checks for NUL bytes
  }
  void *data; size_t n;
  st = napi_get_buffer_info(env, v, &data, &n);
  if (st != napi_ok) return st;
  if (n >= size - 1) { *len = n; buf[0] = 0; return napi_ok; } // the caller reports ENAMETOOLONG
  if (memchr(data, 0, n)) return napi_invalid_arg;
  memcpy(buf, data, n); buf[n] = 0; *len = n;
  return napi_ok;
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
      get_path(env, argv[1], path, sizeof path, &len) != napi_ok ||
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
      get_path(env, argv[1], job->path, sizeof job->path, &len) != napi_ok ||
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
      get_path(env, argv[1], oldname, sizeof oldname, &l1) != napi_ok ||
      napi_get_value_int32(env, argv[2], &newdir) != napi_ok ||
      get_path(env, argv[3], newname, sizeof newname, &l2) != napi_ok ||
      napi_get_value_int32(env, argv[4], &flags) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "renameat2(olddirfd, oldname, newdirfd, newname, flags)"); return NULL;
  }
  if (l1 >= sizeof oldname - 1 || l2 >= sizeof newname - 1) return throw_errno(env, ENAMETOOLONG);
  if (strlen(oldname) != l1 || strlen(newname) != l2 || strchr(oldname, '/') || strchr(newname, '/')) return throw_errno(env, EINVAL);
  if (syscall(SYS_renameat2, olddir, oldname, newdir, newname, (unsigned)flags) < 0) return throw_errno(env, errno);
  return NULL;
}

// readDirStats(dirfd, maxEntries, skipHidden): Promise<{ names, stats, count, done }>.
//
// Guarantees: the names are those getdents64(2) returns for the directory open on dirfd (an fd
// opened for reading: O_PATH fds cannot be read), never "." or ".."; each one is a single
// component (getdents never returns a "/"), stat'ed with fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)
// and, when it is a symlink, its target read with readlinkat(dirfd, name): no path is resolved
// beyond that one name inside that directory, no symlink is followed, nothing is opened (a FIFO,
// a socket or a device is stat'ed, never opened, so it cannot block the call). An entry removed
// between getdents and fstatat (ENOENT) is left out. The cursor is dirfd's file offset: each call
// goes on from where the last one stopped (the offset is moved back to the first entry not
// returned when a getdents read held more than maxEntries), and done is true once getdents
// returned 0. The job works on its own dup of dirfd, so closing dirfd while a call runs never
// lets the job read whatever file reuses the number.
// Out of scope: a consistent snapshot (entries added or removed during the walk may or may not
// be seen, as with readdir(3)); what a name stands for after the call (it can be replaced at
// once; callers that open it must open it beneath a held fd with no symlink followed); a call
// that blocks in the kernel (a hung mount) blocks its pool thread until the kernel returns, and
// the caller bounds its wait.
//
// Result: names is a Buffer of every name's bytes (and symlink targets'); stats an Int64 array of
// DS_FIELDS per entry (the layout below, shared with src/fs/confine/dir-stats.ts).
enum {
  DS_NAME_OFF, DS_NAME_LEN, DS_MODE, DS_UID, DS_GID, DS_SIZE, DS_BLOCKS, DS_DEV, DS_INO, DS_NLINK,
  DS_RDEV, DS_ATIME_NS, DS_MTIME_NS, DS_CTIME_NS, DS_LINK_OFF, DS_LINK_LEN, DS_FIELDS
};
#define DS_MAX_ENTRIES 65536
#define DS_GETDENTS_BYTES 32768

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd; // the job's own dup of dirfd
  bool open_name; // openDirStats: open `name` beneath fd first and read that
  char name[257];
  int child; // the directory opened from name (-1 until then); the caller owns it once resolved
  int max;
  bool skip_hidden;
  int err;
  bool done;
  int count;
  int64_t *stats;
  char *names;
  size_t names_len, names_cap;
} dirstats_job;

static bool ds_reserve(dirstats_job *job, size_t more) {
  if (job->names_len + more <= job->names_cap) return true;
  size_t cap = job->names_cap ? job->names_cap : 16384;
  while (cap < job->names_len + more) cap *= 2;
  char *p = realloc(job->names, cap);
  if (!p) return false;
  job->names = p; job->names_cap = cap;
  return true;
}

static int64_t ds_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec; }

static void dirstats_execute(napi_env env, void *data) {
  (void)env; dirstats_job *job = data;
  int fd = job->fd;
  if (job->open_name) {
    long child = do_openat2(job->fd, job->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                            RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (child < 0) { job->err = errno; return; }
    fd = job->child = (int)child;
  }
  char *buf = malloc(DS_GETDENTS_BYTES);
  char *link = malloc(4096);
  job->stats = malloc(sizeof(int64_t) * DS_FIELDS * (size_t)job->max);
  if (!buf || !link || !job->stats) { job->err = ENOMEM; goto out; }
  int seen = 0; // entries taken from getdents (hidden and vanished ones too): the batch's bound
  while (seen < job->max) {
    long n = syscall(SYS_getdents64, fd, buf, DS_GETDENTS_BYTES);
    if (n < 0) { if (errno == EINTR) continue; job->err = errno; goto out; }
    if (n == 0) { job->done = true; break; }
    int64_t next_off = 0; // d_off of the last entry taken: where the entry after it starts
    for (long pos = 0; pos < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + pos);
      if (seen >= job->max) {
        // this read held more than the batch: the next call starts at this entry (seekdir(3) does the same)
        if (lseek(fd, next_off, SEEK_SET) < 0) { job->err = errno; goto out; }
        break;
      }
      pos += d->d_reclen;
      next_off = d->d_off;
      seen++;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      if (job->skip_hidden && name[0] == '.') continue;
      struct stat st;
      if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) continue; // removed since getdents
        job->err = errno; goto out;
      }
      size_t len = strlen(name);
      if (!ds_reserve(job, len)) { job->err = ENOMEM; goto out; }
      int64_t *f = job->stats + (size_t)job->count * DS_FIELDS;
      f[DS_NAME_OFF] = (int64_t)job->names_len; f[DS_NAME_LEN] = (int64_t)len;
      memcpy(job->names + job->names_len, name, len); job->names_len += len;
      f[DS_MODE] = st.st_mode; f[DS_UID] = st.st_uid; f[DS_GID] = st.st_gid;
      f[DS_SIZE] = st.st_size; f[DS_BLOCKS] = st.st_blocks; f[DS_DEV] = (int64_t)st.st_dev;
      f[DS_INO] = (int64_t)st.st_ino; f[DS_NLINK] = (int64_t)st.st_nlink; f[DS_RDEV] = (int64_t)st.st_rdev;
      f[DS_ATIME_NS] = ds_ns(st.st_atim); f[DS_MTIME_NS] = ds_ns(st.st_mtim); f[DS_CTIME_NS] = ds_ns(st.st_ctim);
      f[DS_LINK_OFF] = 0; f[DS_LINK_LEN] = -1;
      if (S_ISLNK(st.st_mode)) {
        ssize_t k = readlinkat(fd, name, link, 4096);
        if (k >= 0 && k < 4096 && ds_reserve(job, (size_t)k)) {
          f[DS_LINK_OFF] = (int64_t)job->names_len; f[DS_LINK_LEN] = k;
          memcpy(job->names + job->names_len, link, (size_t)k); job->names_len += (size_t)k;
        } // else -1: the target could not be read (replaced since fstatat, or too long)
      }
      job->count++;
    }
  }
out:
  free(buf); free(link);
}

static void dirstats_complete(napi_env env, napi_status status, void *data) {
  dirstats_job *job = data;
  if (status != napi_ok) {
    napi_reject_deferred(env, job->deferred, errno_error(env, ECANCELED));
  } else if (job->err) {
    if (job->child >= 0) close(job->child);
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err));
  } else {
    napi_value out, names, stats_ab, stats, v; void *p;
    size_t stats_bytes = sizeof(int64_t) * DS_FIELDS * (size_t)job->count;
    napi_create_object(env, &out);
    napi_create_buffer_copy(env, job->names_len, job->names_len ? job->names : "", &p, &names);
    napi_create_arraybuffer(env, stats_bytes, &p, &stats_ab);
    if (stats_bytes) memcpy(p, job->stats, stats_bytes);
    napi_create_typedarray(env, napi_bigint64_array, DS_FIELDS * (size_t)job->count, stats_ab, 0, &stats);
    napi_set_named_property(env, out, "names", names);
    napi_set_named_property(env, out, "stats", stats);
    napi_create_int32(env, job->count, &v); napi_set_named_property(env, out, "count", v);
    napi_get_boolean(env, job->done, &v); napi_set_named_property(env, out, "done", v);
    if (job->open_name) { napi_create_int32(env, job->child, &v); napi_set_named_property(env, out, "fd", v); }
    napi_resolve_deferred(env, job->deferred, out);
  }
  napi_delete_async_work(env, job->work);
  close(job->fd);
  free(job->stats); free(job->names); free(job);
}

// Queues a dirstats job on a dup of dirfd (fcntl: no filesystem call, never blocks).
static napi_value start_dirstats(napi_env env, dirstats_job *job, int32_t dirfd, int32_t max, bool skip_hidden) {
  napi_value promise, name;
  job->child = -1;
  job->fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (job->fd < 0) { int e = errno; free(job); return throw_errno(env, e); }
  job->max = max; job->skip_hidden = skip_hidden;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "readDirStats", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, dirstats_execute, dirstats_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    napi_reject_deferred(env, job->deferred, errno_error(env, EAGAIN));
    close(job->fd); free(job);
  }
  return promise;
}

static napi_value js_read_dir_stats(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3]; int32_t dirfd, max; bool skip_hidden;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &max) != napi_ok ||
      napi_get_value_bool(env, argv[2], &skip_hidden) != napi_ok || max < 1 || max > DS_MAX_ENTRIES) {
    napi_throw_type_error(env, "EINVAL", "readDirStats(dirfd, maxEntries 1..65536, skipHidden)"); return NULL;
  }
  dirstats_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM);
  return start_dirstats(env, job, dirfd, max, skip_hidden);
}

// openDirStats(dirfd, name, maxEntries, skipHidden): opens the subdirectory `name` of dirfd for
// reading (one component, neither "." nor ".."; openat2 O_RDONLY | O_DIRECTORY | O_NOFOLLOW with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: a symlink or a non-directory
// there fails with ELOOP or ENOTDIR, nothing else is opened), then reads its first batch as
// readDirStats does, in the same threadpool job; the result's fd is that directory, for the
// caller to read on and close. On an error nothing stays open.
static napi_value js_open_dir_stats(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4]; int32_t dirfd, max; bool skip_hidden; size_t len;
  dirstats_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      get_path(env, argv[1], job->name, sizeof job->name, &len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &max) != napi_ok ||
      napi_get_value_bool(env, argv[3], &skip_hidden) != napi_ok || max < 1 || max > DS_MAX_ENTRIES) {
    free(job);
    napi_throw_type_error(env, "EINVAL", "openDirStats(dirfd, name, maxEntries 1..65536, skipHidden)"); return NULL;
  }
  if (len >= sizeof job->name - 1) { free(job); return throw_errno(env, ENAMETOOLONG); }
  if (len == 0 || strlen(job->name) != len || strchr(job->name, '/') || strcmp(job->name, ".") == 0 || strcmp(job->name, "..") == 0) {
    free(job); return throw_errno(env, EINVAL);
  }
  job->open_name = true;
  return start_dirstats(env, job, dirfd, max, skip_hidden);
}

// commitFile(fd, uid, gid, mode, seconds (BigInt), nanos, dirfd, tempName, name, noReplace): Promise<void>.
//
// Guarantees: on the file open on fd, in this order, fchown(uid, gid) (skipped when both are -1;
// before the mode, since chown clears setuid/setgid), fchmod(mode), futimens with both times set to
// seconds + nanos (skipped when nanos < 0), fsync; then renameat2(dirfd, tempName, dirfd, name,
// noReplace ? RENAME_NOREPLACE : 0). So the file takes its name only once its data and attributes
// are on disk, as the chain of node:fs calls it replaces did, in one pool job instead of six round
// trips (each a pool hand-off; 16 of these run at once in a tar extraction, pending-commits.ts).
// Both names are single components (no "/", not "." or ".."): nothing is resolved beyond dirfd.
// The first step that fails stops the chain and the promise rejects with an Error whose .syscall
// names that step: nothing after it ran, and the file still has its temp name (the caller removes
// it). The job works on its own dups of fd and dirfd (made before the call returns, closed when the
// job ends), so a caller that closes them while the job runs (a deadline passed: the caller gave up
// on a hung mount) never lets the job act on whatever file reuses the numbers. Out of scope: the
// directory's own fsync (the caller's, once per directory). A step that blocks in the kernel (a hung
// mount) holds its pool thread until it returns, and a rename that comes after the caller gave up
// still happens (the file is whole: its fsync came first).
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd, dirfd, uid, gid, no_replace;
  unsigned mode;
  int64_t seconds;
  int32_t nanos;
  int err;
  const char *failed;
  char temp_name[257], name[257];
} commit_job;

static void commit_execute(napi_env env, void *data) {
  (void)env; commit_job *job = data;
  job->failed = NULL;
  if ((job->uid != -1 || job->gid != -1) && fchown(job->fd, (uid_t)job->uid, (gid_t)job->gid) < 0) job->failed = "fchown";
  else if (fchmod(job->fd, (mode_t)job->mode) < 0) job->failed = "fchmod";
  else if (job->nanos >= 0) {
    struct timespec times[2] = {{.tv_sec = (time_t)job->seconds, .tv_nsec = job->nanos}, {.tv_sec = (time_t)job->seconds, .tv_nsec = job->nanos}};
    if (futimens(job->fd, times) < 0) job->failed = "futime";
  }
  if (!job->failed && fsync(job->fd) < 0) job->failed = "fsync";
  if (!job->failed && syscall(SYS_renameat2, job->dirfd, job->temp_name, job->dirfd, job->name, job->no_replace ? 1u /* RENAME_NOREPLACE */ : 0u) < 0)
    job->failed = "renameat2";
  job->err = job->failed ? errno : 0;
  close(job->fd);
  close(job->dirfd);
}

static void commit_complete(napi_env env, napi_status status, void *data) {
  commit_job *job = data; napi_value undef, err, syscall_name;
  if (status != napi_ok) {
    // cancelled before it ran: nothing was done, the dups are still open
    close(job->fd); close(job->dirfd);
    napi_reject_deferred(env, job->deferred, errno_error(env, ECANCELED));
  } else if (job->failed) {
    err = errno_error(env, job->err);
    napi_create_string_utf8(env, job->failed, NAPI_AUTO_LENGTH, &syscall_name);
    napi_set_named_property(env, err, "syscall", syscall_name);
    napi_reject_deferred(env, job->deferred, err);
  } else {
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, job->deferred, undef);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static bool single_name(const char *name, size_t len) {
  return len > 0 && strlen(name) == len && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static napi_value js_commit_file(napi_env env, napi_callback_info info) {
  size_t argc = 10; napi_value argv[10], promise, name; int32_t fd, uid, gid, dirfd, nanos; uint32_t mode; int64_t seconds;
  bool no_replace, lossless; size_t l1, l2;
  commit_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 10 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &uid) != napi_ok ||
      napi_get_value_int32(env, argv[2], &gid) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &mode) != napi_ok ||
      napi_get_value_bigint_int64(env, argv[4], &seconds, &lossless) != napi_ok || !lossless ||
      napi_get_value_int32(env, argv[5], &nanos) != napi_ok ||
      napi_get_value_int32(env, argv[6], &dirfd) != napi_ok ||
      get_path(env, argv[7], job->temp_name, sizeof job->temp_name, &l1) != napi_ok ||
      get_path(env, argv[8], job->name, sizeof job->name, &l2) != napi_ok ||
      napi_get_value_bool(env, argv[9], &no_replace) != napi_ok || nanos > 999999999 || mode > 07777) {
    free(job);
    napi_throw_type_error(env, "EINVAL", "commitFile(fd, uid, gid, mode, seconds, nanos, dirfd, tempName, name, noReplace)"); return NULL;
  }
  if (l1 >= sizeof job->temp_name - 1 || l2 >= sizeof job->name - 1) { free(job); return throw_errno(env, ENAMETOOLONG); }
  if (!single_name(job->temp_name, l1) || !single_name(job->name, l2)) { free(job); return throw_errno(env, EINVAL); }
  job->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (job->fd < 0) { int e = errno; free(job); return throw_errno(env, e); }
  job->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (job->dirfd < 0) { int e = errno; close(job->fd); free(job); return throw_errno(env, e); }
  job->uid = uid; job->gid = gid; job->mode = mode; job->seconds = seconds; job->nanos = nanos;
  job->no_replace = no_replace;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "commitFile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, commit_execute, commit_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    napi_reject_deferred(env, job->deferred, errno_error(env, EAGAIN));
    close(job->fd); close(job->dirfd);
    free(job);
  }
  return promise;
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
  napi_create_function(env, "readDirStats", NAPI_AUTO_LENGTH, js_read_dir_stats, NULL, &f);
  napi_set_named_property(env, exports, "readDirStats", f);
  napi_create_function(env, "openDirStats", NAPI_AUTO_LENGTH, js_open_dir_stats, NULL, &f);
  napi_set_named_property(env, exports, "openDirStats", f);
  napi_create_function(env, "commitFile", NAPI_AUTO_LENGTH, js_commit_file, NULL, &f);
  napi_set_named_property(env, exports, "commitFile", f);
  return exports;
}
