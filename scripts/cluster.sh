#!/usr/bin/env bash
# A real one-node Kubernetes v1.34.4 cluster on this machine, for the end-to-end tests.
#
#   scripts/cluster.sh build    install Debian packages, build the k8s binaries once into the cache
#   scripts/cluster.sh up       build (if needed), start etcd, apiserver, controller-manager,
#                               scheduler, a private containerd and a kubelet; wait for Ready
#   scripts/cluster.sh down     stop everything and remove every trace (processes, mounts, cgroups,
#                               CNI bridge, sysctls, state dir)
#   scripts/cluster.sh status   show what runs and whether the node is Ready (exit 1 if not up)
#   scripts/cluster.sh env      print KUBECONFIG, CRI_SOCKET and PATH exports (eval "$(... env)")
#
# Everything listens on 127.0.0.1 only. The state lives in ${PODFILES_CLUSTER_DIR:-/tmp/podfiles-cluster},
# the binaries in ${PODFILES_CACHE:-$HOME/.cache/podfiles}/k8s-v1.34.4/bin. The containerd used here
# is private (own socket, root, state, config); another containerd on the machine is not touched.
set -euo pipefail

K8S_VERSION=v1.34.4
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_SRC="$REPO_ROOT/scripts/cluster"
CACHE="${PODFILES_CACHE:-$HOME/.cache/podfiles}"
K8S_CACHE="$CACHE/k8s-$K8S_VERSION"
BIN="$K8S_CACHE/bin"
STATE="${PODFILES_CLUSTER_DIR:-/tmp/podfiles-cluster}"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
CRI_SOCKET="$RUN/containerd.sock"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
NODE_NAME=localhost
APISERVER_PORT="${PODFILES_APISERVER_PORT:-6443}"
ETCD_PORT="${PODFILES_ETCD_PORT:-2379}"
ETCD_PEER_PORT="${PODFILES_ETCD_PEER_PORT:-2380}"
KUBELET_PORT=10250
CNI_BRIDGE=podfiles0
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
PAUSE_IMAGE=localhost/podfiles-pause:1
BUSYBOX_IMAGE=localhost/podfiles-busybox:1
# Kubernetes components the tests run; kubectl is the outside witness.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_run() {
  # dpkg's lock may be held by another session's apt: wait for it instead of failing.
  local tries=0
  until DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@" >>"$CACHE/apt.log" 2>&1; do
    tries=$((tries + 1))
    if [[ $APT_UPDATED == 0 ]]; then
      log "apt-get $1 failed; running apt-get update once"
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update >>"$CACHE/apt.log" 2>&1 || true
      APT_UPDATED=1
    elif ((tries > 2)); then
      tail -20 "$CACHE/apt.log" >&2
      return 1
    fi
  done
}

ensure_packages() {
  mkdir -p "$CACHE"
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] ||
    missing+=(containernetworking-plugins)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v go >/dev/null || missing+=(golang-go)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt_run install -y --no-install-recommends "${missing[@]}"
  fi
  ensure_etcd
}

# etcd-server is extracted, not installed: installing it would start a system etcd service.
ETCD_DIR="$CACHE/etcd"
ensure_etcd() {
  [[ -x $ETCD_DIR/usr/bin/etcd ]] && return 0
  log "fetching etcd-server (apt-get download + dpkg-deb -x into $ETCD_DIR)"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt_run download etcd-server)
  rm -rf "$ETCD_DIR"
  mkdir -p "$ETCD_DIR"
  dpkg-deb -x "$tmp"/etcd-server_*.deb "$ETCD_DIR"
  rm -rf "$tmp"
  [[ -x $ETCD_DIR/usr/bin/etcd ]] || die "etcd binary not found in the etcd-server package"
}

# ---------------------------------------------------------------------------------------------
# Kubernetes binaries, built once from the Go module proxy
# ---------------------------------------------------------------------------------------------
have_binaries() {
  local c
  for c in "${K8S_CMDS[@]}"; do [[ -x $BIN/$c ]] || return 1; done
  [[ -f $BIN/.version && $(cat "$BIN/.version") == "$K8S_VERSION" ]]
}

build_binaries() {
  if have_binaries; then
    log "Kubernetes $K8S_VERSION binaries present in $BIN"
    return 0
  fi
  local t0 ldflags tmpbin
  t0="$(now)"
  mkdir -p "$K8S_CACHE"
  tmpbin="$(mktemp -d "$K8S_CACHE/bin.tmp.XXXXXX")"
  local v="$K8S_VERSION" major minor
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local vars=(
    "gitVersion=$v" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean"
    "gitCommit=0000000000000000000000000000000000000000" "buildDate=1970-01-01T00:00:00Z"
  )
  ldflags="-s -w"
  local pkg var
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    for var in "${vars[@]}"; do ldflags+=" -X $pkg.$var"; done
  done
  local pkgs=()
  for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building Kubernetes $K8S_VERSION (${K8S_CMDS[*]}) into $BIN; a cold build takes minutes"
  (
    cd "$CLUSTER_SRC"
    export CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
    go build -trimpath -ldflags "$ldflags" -o "$tmpbin/" "${pkgs[@]}"
  ) >"$K8S_CACHE/build.log" 2>&1 || { tail -40 "$K8S_CACHE/build.log" >&2; rm -rf "$tmpbin"; die "Kubernetes build failed (log: $K8S_CACHE/build.log)"; }
  echo "$K8S_VERSION" >"$tmpbin/.version"
  rm -rf "$BIN"
  mv "$tmpbin" "$BIN"
  log "built Kubernetes $K8S_VERSION in $(since "$t0") s ($(du -sh "$BIN" | cut -f1))"
}

cmd_build() {
  ensure_packages
  build_binaries
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    build) cmd_build ;;
    *) echo "usage: $0 up|down|status|env|build" >&2; exit 2 ;;
  esac
}

main "$@"
