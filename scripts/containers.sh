#!/usr/bin/env bash
# A private containerd with its CRI plugin, for tests that need real containers (and for people who
# want to poke at them by hand). No Kubernetes: pods are run through the CRI directly
# (test/harness/containers.ts does that the way the kubelet does).
#
#   scripts/containers.sh up       install containerd, runc, CNI plugins and busybox-static if missing
#                                  (apt-get), start the private containerd, import the images
#                                  localhost/podfiles-pause:1 and localhost/podfiles-busybox:1 into the
#                                  k8s.io namespace, wait until the CRI answers; then print the env lines
#   scripts/containers.sh down     stop and remove every pod sandbox through the CRI, stop containerd,
#                                  remove leftovers (shims, runc containers, mounts under the state dir,
#                                  cgroups under our parent in every hierarchy, our shim sockets in
#                                  /run/containerd/s) and verify nothing is left. `down --purge` also
#                                  deletes the image store (next `up` re-imports, ~1 s more).
#                                  `down --lease PID` (used by test/harness/containers.ts) drops the
#                                  lease PID took with PODFILES_CONTAINERS_LEASE=PID `up`, and stops
#                                  containerd only if no other live process holds a lease.
#   scripts/containers.sh status   what runs (exit 1 when containerd is not up)
#   scripts/containers.sh env      print CRI_SOCKET=... and friends (eval "$(scripts/containers.sh env)")
#
# Everything lives under ${PODFILES_CONTAINERS_DIR:-/tmp/podfiles-containers}: config, root, state,
# socket, runc root, CNI conf dir, logs. Pod cgroups go under ${PODFILES_CGROUP_PARENT} (default
# /podfiles-containers-<hash of the state dir>). Another containerd on this machine (the system one,
# or the one scripts/cluster.sh runs) is never touched: processes are found by this instance's socket
# path, shim sockets by their hash of this instance's socket path.
#
# Only the env lines go to stdout; progress goes to stderr.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${PODFILES_CONTAINERS_DIR:-/tmp/podfiles-containers}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CGROUP_PARENT="${PODFILES_CGROUP_PARENT:-/podfiles-containers-$(printf %s "$STATE_DIR" | sha256sum | cut -c1-8)}"
SOCK="$STATE_DIR/containerd.sock"
CONFIG="$STATE_DIR/config.toml"
PIDFILE="$STATE_DIR/containerd.pid"
LOG="$STATE_DIR/containerd.log"
CD_ROOT="$STATE_DIR/root"
CD_STATE="$STATE_DIR/state"
RUNC_ROOT="$STATE_DIR/runc"
CNI_CONF="$STATE_DIR/cni/net.d"
IMAGES_DIR="$STATE_DIR/images"
PAUSE_IMAGE=localhost/podfiles-pause:1
BUSYBOX_IMAGE=localhost/podfiles-busybox:1
NS=k8s.io
SHIM_SOCKET_DIR=/run/containerd/s
CNI_BIN_DIR=/usr/lib/cni
PACKAGES=(containerd runc containernetworking-plugins busybox-static)

log() { printf '[containers %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

if [ "${#STATE_DIR}" -gt 90 ]; then
  die "state dir path too long for a unix socket: $STATE_DIR"
fi

print_env() {
  cat <<EOF
CRI_SOCKET=$SOCK
CONTAINERD_ADDRESS=$SOCK
PODFILES_CONTAINERS_DIR=$STATE_DIR
PODFILES_CGROUP_PARENT=$CGROUP_PARENT
PODFILES_PAUSE_IMAGE=$PAUSE_IMAGE
PODFILES_BUSYBOX_IMAGE=$BUSYBOX_IMAGE
EOF
}

ctr_() { ctr -a "$SOCK" "$@"; }

# ---------------------------------------------------------------------------------------------
# packages
# ---------------------------------------------------------------------------------------------
ensure_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local t0; t0=$(now)
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >&2; then
    log "apt-get install failed; running apt-get update once"
    apt-get -o DPkg::Lock::Timeout=600 update >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >&2
  fi
  log "packages installed in $(since "$t0") s"
}

# ---------------------------------------------------------------------------------------------
# process discovery: only this instance
# ---------------------------------------------------------------------------------------------
containerd_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -- "--config $CONFIG" >/dev/null || return 1
  echo "$pid"
}

# PIDs of processes whose argv contains the exact argument $1 (e.g. our socket path).
pids_with_arg() {
  # one grep over every /proc/<pid>/cmdline, NUL-separated arguments matched whole
  { grep -lzxF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null || true; } \
    | sed -n 's|^/proc/\([0-9]*\)/cmdline$|\1|p' | { grep -vx "$$" || true; }
}

# containerd-shim-runc-v2 processes started by this containerd (they get `-address $SOCK`).
our_shims() {
  local pid
  for pid in $(pids_with_arg "$SOCK"); do
    if grep -q "containerd-shim" "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
  done | sort -u
}

cri_ready() {
  # The CRI answers when RuntimeService/Version does: ask it through node + the repo's CRI proto.
  node_cri version >/dev/null 2>&1
}

# Small CRI calls from the shell, with the repo's node_modules and src/cri/cri-subset.proto.
#   node_cri version                  -> prints runtime name and version
#   node_cri images REF...            -> exits 0 when the CRI image service knows every REF
#   node_cri ready REF...             -> version + images: prints the version when both succeed
#   node_cri remove-all-pods          -> stops and removes every pod sandbox, prints their IDs
node_cri() {
  (cd "$REPO_ROOT" && CRI_SOCKET="$SOCK" CRI_PROTO="$REPO_ROOT/src/cri/cri-subset.proto" \
    node --input-type=module -e "$NODE_CRI_JS" -- "$@")
}
NODE_CRI_JS='
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
const [cmd, ...args] = process.argv.slice(1).filter((a) => a !== "--");
const def = protoLoader.loadSync(process.env.CRI_PROTO, { keepCase: false, longs: String, enums: String, defaults: true });
const v1 = grpc.loadPackageDefinition(def).runtime.v1;
const target = "unix://" + process.env.CRI_SOCKET;
const rt = new v1.RuntimeService(target, grpc.credentials.createInsecure());
const im = new v1.ImageService(target, grpc.credentials.createInsecure(), { channelOverride: rt.getChannel() });
const call = (c, m, req, ms = 10000) => new Promise((res, rej) => c[m](req, { deadline: Date.now() + ms }, (e, r) => (e ? rej(e) : res(r))));
try {
  if (cmd === "version") {
    const v = await call(rt, "Version", { version: "v1" }, 3000);
    console.log(`${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion})`);
  } else if (cmd === "ready") {
    const v = await call(rt, "Version", { version: "v1" }, 3000);
    for (const ref of args) {
      const r = await call(im, "ImageStatus", { image: { image: ref } }, 3000);
      if (!r.image || !r.image.id) { console.error("CRI does not know " + ref + " yet"); process.exit(3); }
    }
    console.log(`${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion})`);
  } else if (cmd === "images") {
    for (const ref of args) {
      const r = await call(im, "ImageStatus", { image: { image: ref } }, 3000);
      if (!r.image || !r.image.id) { console.error("CRI does not know " + ref + " yet"); process.exit(3); }
    }
  } else if (cmd === "remove-all-pods") {
    const { items } = await call(rt, "ListPodSandbox", {});
    for (const p of items) {
      await call(rt, "StopPodSandbox", { podSandboxId: p.id }, 120000);
      await call(rt, "RemovePodSandbox", { podSandboxId: p.id }, 120000);
    }
    for (const p of items) console.log(p.id);
  } else { console.error("unknown command " + cmd); process.exit(2); }
  process.exit(0);
} catch (e) { console.error("CRI " + cmd + " on " + process.env.CRI_SOCKET + ": " + e.message); process.exit(1); }
'

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------
write_config() {
  mkdir -p "$CD_ROOT" "$CD_STATE" "$RUNC_ROOT" "$CNI_CONF" "$STATE_DIR/opt" "$STATE_DIR/pod-logs"
  cat >"$CONFIG" <<EOF
# private containerd for podfiles' real-container tests (scripts/containers.sh)
version = 2
root = "$CD_ROOT"
state = "$CD_STATE"
oom_score = 0

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root lacks CAP_SYS_RESOURCE here: without this every sandbox fails with runc's
  # "can't get final child's PID from pipe: EOF" (writing -998 to oom_score_adj is denied)
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUNC_ROOT"

  [plugins."io.containerd.grpc.v1.cri".cni]
    # sandboxes use the host network (NamespaceMode NODE): no CNI network is ever set up
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CNI_CONF"
    max_conf_num = 1
EOF
}

start_containerd() {
  rm -f "$SOCK" "$SOCK.ttrpc"
  : >"$LOG"
  # setsid: its own session, so a test runner's process group signals do not reach it
  # 8>&-: containerd must not inherit the flock of this script
  setsid containerd --config "$CONFIG" </dev/null >>"$LOG" 2>&1 8>&- &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local i
  for i in $(seq 1 200); do
    if [ -S "$SOCK" ] && ctr_ version >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -20 "$LOG" >&2; die "containerd exited; log: $LOG"; }
    sleep 0.05
  done
  tail -20 "$LOG" >&2
  die "containerd did not answer on $SOCK within 10 s; log: $LOG"
}

import_images() {
  local kind tar ref
  for kind in pause busybox; do
    tar=$("$REPO_ROOT/scripts/images.sh" "$kind" "$IMAGES_DIR")
    ref=$("$REPO_ROOT/scripts/images.sh" ref "$kind")
    # skip when this exact build is already imported
    local want have
    want=$(tar -xOf "$tar" index.json | jq -r '.manifests[0].digest')
    have=$(ctr_ -n "$NS" images ls name=="$ref" 2>/dev/null | awk 'NR==2{print $3}')
    if [ "$want" != "$have" ]; then
      ctr_ -n "$NS" images import --platform "linux/$(dpkg --print-architecture)" "$tar" >&2
      have=$(ctr_ -n "$NS" images ls name=="$ref" | awk 'NR==2{print $3}')
      [ "$want" = "$have" ] || die "import of $tar created no image $ref (index.json needs org.opencontainers.image.ref.name)"
    fi
  done
}

CRI_VERSION=""
wait_cri() {
  local i
  for i in $(seq 1 50); do
    if CRI_VERSION=$(node_cri ready "$PAUSE_IMAGE" "$BUSYBOX_IMAGE" 2>/dev/null); then return 0; fi
    sleep 0.1
  done
  node_cri version || true
  node_cri images "$PAUSE_IMAGE" "$BUSYBOX_IMAGE" || true
  die "the CRI on $SOCK did not become ready with both images within 10 s; log: $LOG"
}

take_lock() {
  exec 8>"$STATE_DIR/.lock"
  flock 8
}

# Leases: test processes that share this containerd register their PID (PODFILES_CONTAINERS_LEASE
# with `up`, `down --lease PID`); `down --lease` stops containerd only when no other live lease is left.
live_leases() {
  local f pid
  for f in "$STATE_DIR"/leases/*; do
    [ -e "$f" ] || continue
    pid=$(basename "$f")
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; else rm -f "$f"; fi
  done
}

cmd_up() {
  local t0; t0=$(now)
  [ "$(id -u)" = 0 ] || die "must run as root"
  take_lock
  if [ -n "${PODFILES_CONTAINERS_LEASE:-}" ]; then
    mkdir -p "$STATE_DIR/leases"
    : >"$STATE_DIR/leases/$PODFILES_CONTAINERS_LEASE"
  fi
  ensure_packages
  [ -d "$REPO_ROOT/node_modules/@grpc/grpc-js" ] && [ -d "$REPO_ROOT/node_modules/@grpc/proto-loader" ] \
    || die "run npm ci in $REPO_ROOT first (the CRI checks use @grpc/grpc-js and @grpc/proto-loader)"
  if containerd_pid >/dev/null && cri_ready; then
    log "containerd already running (pid $(containerd_pid)) on $SOCK"
  else
    if containerd_pid >/dev/null; then
      log "containerd (pid $(containerd_pid)) does not answer; restarting"
      cmd_down_quiet
    fi
    write_config
    start_containerd
    log "containerd $(containerd --version | awk '{print $3}') answering on $SOCK after $(since "$t0") s"
    # a fresh start: pods left in the store by an unclean stop are stale
    local stale
    stale=$( { node_cri remove-all-pods 2>/dev/null || true; } | wc -l)
    [ "$stale" = 0 ] || log "removed $stale stale pod sandbox(es)"
  fi
  import_images
  wait_cri
  log "up in $(since "$t0") s: $CRI_VERSION"
  print_env
}

# ---------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------
# shim sockets of this instance: sha256(<containerd address>/<namespace>/<shim id>) in /run/containerd/s
shim_socket_paths() {
  local ns_dir id ns
  for ns_dir in "$CD_STATE"/io.containerd.runtime.v2.task/*; do
    [ -d "$ns_dir" ] || continue
    ns=$(basename "$ns_dir")
    for id in "$ns_dir"/*; do
      [ -e "$id" ] || continue
      printf '%s/%s\n' "$SHIM_SOCKET_DIR" "$(printf '%s/%s/%s' "$SOCK" "$ns" "$(basename "$id")" | sha256sum | cut -d' ' -f1)"
    done
  done
}

mounts_under_state() {
  # mount points (field 5 of mountinfo) under the state dir, deepest first
  awk -v d="$STATE_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | uniq
}

cgroup_dirs() {
  local mnt
  # every cgroup (v1) and cgroup2 mount point of this mount namespace
  awk '$9 == "cgroup" || $9 == "cgroup2" {print $5}' /proc/self/mountinfo | sort -u | while read -r mnt; do
    if [ -d "$mnt$CGROUP_PARENT" ]; then echo "$mnt$CGROUP_PARENT"; fi
  done
}

kill_pids() {
  local sig=$1; shift
  local p
  for p in "$@"; do kill "-$sig" "$p" 2>/dev/null || true; done
}

wait_gone() {
  local p i
  for i in $(seq 1 100); do
    local alive=0
    for p in "$@"; do if [ -d "/proc/$p" ]; then alive=1; fi; done
    if [ $alive = 0 ]; then return 0; fi
    sleep 0.05
  done
  return 1
}

cmd_down_quiet() {
  local t0; t0=$(now)
  local pid
  pid=$(containerd_pid || true)
  local removed_pods=""
  if [ -n "$pid" ] && cri_ready; then
    removed_pods=$(node_cri remove-all-pods) || log "removing pods through the CRI failed; cleaning up by hand"
    log "removed $(printf '%s' "$removed_pods" | grep -c . || true) pod sandbox(es) through the CRI"
  fi
  # containers started through ctr (not the CRI), in any namespace
  if [ -n "$pid" ]; then
    local ns t
    for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
      for t in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
        ctr_ -n "$ns" tasks kill -s KILL "$t" >/dev/null 2>&1 || true
        ctr_ -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
      done
      for t in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
        ctr_ -n "$ns" containers delete "$t" >/dev/null 2>&1 || true
      done
    done
  fi
  local shim_socks id
  shim_socks=$(shim_socket_paths)
  # the shims of the pods just removed exit on their own and remove their sockets: give them a moment
  for id in $removed_pods; do
    shim_socks="$shim_socks $SHIM_SOCKET_DIR/$(printf '%s/%s/%s' "$SOCK" "$NS" "$id" | sha256sum | cut -d' ' -f1)"
  done
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" || { log "containerd $pid ignores SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" || true; }
  fi
  # runc containers of this instance that are still there (unclean stop)
  if [ -d "$RUNC_ROOT" ]; then
    local root id
    for root in "$RUNC_ROOT"/*; do
      [ -d "$root" ] || continue
      for id in $(runc --root "$root" list -q 2>/dev/null); do
        runc --root "$root" kill "$id" KILL >/dev/null 2>&1 || true
        runc --root "$root" delete -f "$id" >/dev/null 2>&1 || true
      done
    done
  fi
  local shims
  shims=$(our_shims)
  if [ -n "$shims" ]; then
    # shellcheck disable=SC2086
    kill_pids TERM $shims; wait_gone $shims || { kill_pids KILL $shims; wait_gone $shims || true; }
  fi
  local m
  for m in $(mounts_under_state); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
  local cg
  for cg in $(cgroup_dirs); do
    # deepest first; a cgroup dir is removed with rmdir (its files are virtual)
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    if [ -d "$cg" ]; then log "cannot remove cgroup $cg (processes left in it?)"; fi
  done
  local s i
  for s in $shim_socks; do
    for i in $(seq 1 40); do [ -e "$s" ] || break; sleep 0.05; done
    if [ -e "$s" ]; then log "removing leftover shim socket $s"; rm -f "$s"; fi
  done
  rm -rf "$CD_STATE" "$RUNC_ROOT" "$STATE_DIR/pod-logs"
  rm -f "$SOCK" "$SOCK.ttrpc" "$PIDFILE"
  log "down in $(since "$t0") s"
}

verify_clean() {
  local bad=0 p m cg
  p=$( { pids_with_arg "$SOCK"; pids_with_arg "$CONFIG"; } | sort -u | tr '\n' ' ')
  if [ -n "${p// /}" ]; then log "LEFTOVER processes: $p"; bad=1; fi
  m=$(mounts_under_state | tr '\n' ' ')
  if [ -n "${m// /}" ]; then log "LEFTOVER mounts: $m"; bad=1; fi
  cg=$(cgroup_dirs | tr '\n' ' ')
  if [ -n "${cg// /}" ]; then log "LEFTOVER cgroups: $cg"; bad=1; fi
  if [ $bad = 0 ]; then log "verified: no processes, mounts or cgroups of this instance left"; fi
  return $bad
}

cmd_down() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  take_lock
  if [ "${1:-}" = --lease ]; then
    rm -f "$STATE_DIR/leases/${2:?--lease needs a PID}"
    local others
    others=$(live_leases | tr '\n' ' ')
    if [ -n "${others// /}" ]; then
      log "still used by process(es) $others: leaving containerd running"
      return 0
    fi
    shift 2
  fi
  rm -rf "$STATE_DIR/leases"
  cmd_down_quiet
  if [ "${1:-}" = --purge ]; then
    rm -rf "$STATE_DIR"
    log "purged $STATE_DIR"
  fi
  verify_clean
}

# ---------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------
cmd_status() {
  local pid
  if ! pid=$(containerd_pid); then
    echo "containerd: not running (state dir $STATE_DIR)"
    return 1
  fi
  echo "containerd: pid $pid, socket $SOCK"
  if cri_ready; then echo "cri: $(node_cri version)"; else echo "cri: not answering"; fi
  echo "cgroup parent: $CGROUP_PARENT"
  echo "images ($NS):"; ctr_ -n "$NS" images ls -q | sed 's/^/  /'
  echo "containers ($NS): $(ctr_ -n "$NS" containers ls -q | wc -l)"
  echo "tasks ($NS):"; ctr_ -n "$NS" tasks ls | sed 's/^/  /'
  echo "shims: $(our_shims | tr '\n' ' ')"
}

case "${1:-}" in
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down [--lease PID] [--purge]|status|env" >&2; exit 2 ;;
esac
