#!/usr/bin/env bash
# A real two-node Kubernetes v1.34.4 cluster on this machine, for the end-to-end tests.
#
#   scripts/cluster.sh build    install Debian packages, build the k8s binaries, crictl and helm
#                               once into the cache
#   scripts/cluster.sh up       build (if needed), start etcd, apiserver, controller-manager,
#                               scheduler, and per node a private containerd and a kubelet (node B
#                               also kube-proxy); wait until every node is Ready
#   scripts/cluster.sh down     stop everything and remove every trace (processes, mounts, cgroups,
#                               network namespace, links, sysctls, state dir)
#   scripts/cluster.sh status   show what runs and whether every node is Ready (exit 1 if not up)
#   scripts/cluster.sh env      print KUBECONFIG, CRI_SOCKET, CRI_CONFIG_FILE, KUBECACHEDIR, PATH and
#                               PODFILES_CLUSTER_NODES_FILE exports (eval "$(scripts/cluster.sh env)")
#   scripts/cluster.sh verify-clean   report anything of the cluster left on the machine
#
# Nodes: PODFILES_NODES=2 (default) or 1. Node A `localhost` runs on the host; node B `node-b` runs
# its containerd, kubelet and kube-proxy in a network namespace and a mount namespace of its own
# (scripts/cluster/node-b.sh; scripts/cluster/README.md explains the layout).
#
# Component logs: $STATE/logs/<component>.log. PODFILES_CLUSTER_VERBOSE=1 logs stop times.
#
# Everything listens on 127.0.0.1 or on addresses of links this script creates (10.234.0.1 on the
# link pf-node-a (a bridge without ports), 10.234.0.2 inside node B's network namespace); nothing on the machine's own
# interfaces. The state lives in ${PODFILES_CLUSTER_DIR:-/tmp/podfiles-cluster}, the binaries in
# ${PODFILES_CACHE:-$HOME/.cache/podfiles}/k8s-v1.34.4/bin. The containerds used here are private
# (own socket, root, state, config); another containerd on the machine is not touched.
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
# One pod network for both nodes (their CNI bridges are joined by a veth pair): node A hands out
# 10.244.0.x, node B 10.244.1.x (gateway 10.244.1.1 on its bridge, for Services via its kube-proxy).
POD_NET=10.244.0.0/16
POD_RANGE_A=(10.244.0.2 10.244.0.254)
SERVICE_CIDR=10.96.0.0/16
# Node A's address: on the link pf-node-a (a bridge without ports) that `up` creates (the kubelet refuses a loopback
# --node-ip, and the machine's own interfaces are not ours). hostNetwork pods on node A get it.
NODE_A_IP=10.234.0.1
NODE_A_LINK=pf-node-a
PAUSE_IMAGE=localhost/podfiles-pause:1
BUSYBOX_IMAGE=localhost/podfiles-busybox:1
# PODFILES_NODES: 2 (default) or 1. `down`, `status` and `verify-clean` read what `up` recorded.
NODES_WANTED="${PODFILES_NODES:-2}"
[[ $NODES_WANTED == 1 || $NODES_WANTED == 2 ]] || { echo "PODFILES_NODES=$NODES_WANTED: 1 or 2" >&2; exit 2; }
# Kubernetes components the tests run; kubectl is the outside witness; kube-proxy runs in node B.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy)

# NODES: what this cluster has. `up` records it in $STATE/nodes; the other commands read that.
NODES="$NODES_WANTED"
[[ -f $STATE/nodes ]] && NODES="$(cat "$STATE/nodes")"
# shellcheck source=cluster/node-b.sh
source "$CLUSTER_SRC/node-b.sh"

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
  command -v jq >/dev/null || missing+=(jq)                 # scripts/images.sh
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)      # scripts/images.sh (static pause)
  command -v pgrep >/dev/null || missing+=(procps)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v socat >/dev/null || missing+=(socat)            # node B's API relay
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
# Commands of K8S_CMDS not yet in $BIN (all of them when $BIN holds another version).
missing_binaries() {
  local c
  if [[ ! -f $BIN/.version || $(cat "$BIN/.version") != "$K8S_VERSION" ]]; then
    echo "${K8S_CMDS[@]}"
    return
  fi
  for c in "${K8S_CMDS[@]}"; do [[ -x $BIN/$c ]] || echo "$c"; done
}
have_binaries() { [[ -z $(missing_binaries) ]]; }

build_binaries() {
  local missing=()
  read -r -a missing <<<"$(missing_binaries | tr '\n' ' ')"
  if ((${#missing[@]} == 0)); then
    log "Kubernetes $K8S_VERSION binaries present in $BIN"
    return 0
  fi
  # Kubernetes 1.34 needs Go >= 1.24 (Debian 12's golang-go is 1.19); older toolchains that know
  # GOTOOLCHAIN fetch the go.mod's version through the module proxy by themselves.
  command -v go >/dev/null || die "go is not installed (Go >= 1.24 is needed to build Kubernetes $K8S_VERSION)"
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
  local pkg var c
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    for var in "${vars[@]}"; do ldflags+=" -X $pkg.$var"; done
  done
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building Kubernetes $K8S_VERSION (${missing[*]}) into $BIN; a cold build takes minutes"
  (
    cd "$CLUSTER_SRC"
    export CGO_ENABLED=0 GOFLAGS=
    go build -trimpath -ldflags "$ldflags" -o "$tmpbin/" "${pkgs[@]}"
  ) >"$K8S_CACHE/build.log" 2>&1 || { tail -40 "$K8S_CACHE/build.log" >&2; rm -rf "$tmpbin"; die "Kubernetes build failed (log: $K8S_CACHE/build.log)"; }
  if [[ ! -f $BIN/.version || $(cat "$BIN/.version") != "$K8S_VERSION" ]]; then
    # another version: replace the whole directory (crictl and helm are rebuilt with it)
    chmod 755 "$tmpbin"
    echo "$K8S_VERSION" >"$tmpbin/.version"
    rm -rf "$BIN"
    mv "$tmpbin" "$BIN"
  else
    # the same version with commands added (kube-proxy): keep what is there
    for c in "${missing[@]}"; do mv "$tmpbin/$c" "$BIN/$c"; done
    rm -rf "$tmpbin"
  fi
  log "built Kubernetes $K8S_VERSION (${missing[*]}) in $(since "$t0") s ($(du -sh "$BIN" | cut -f1))"
}

# crictl: the CRI client used to stop pod sandboxes before containerd stops, and a CRI witness for tests.
CRICTL_VERSION=v1.34.0
build_crictl() {
  [[ -x $BIN/crictl ]] && return 0
  local t0
  t0="$(now)"
  log "building crictl $CRICTL_VERSION (go install sigs.k8s.io/cri-tools/cmd/crictl)"
  (
    export CGO_ENABLED=0 GOFLAGS= GOBIN="$BIN"
    cd /
    go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  ) >"$K8S_CACHE/crictl-build.log" 2>&1 || { tail -20 "$K8S_CACHE/crictl-build.log" >&2; die "crictl build failed"; }
  log "built crictl in $(since "$t0") s"
}

# helm: not packaged by Debian 12; built from the Go module proxy at a pinned version, like crictl.
HELM_VERSION=v3.22.0
build_helm() {
  [[ -x $BIN/helm && $("$BIN/helm" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]] && return 0
  local t0
  t0="$(now)"
  log "building helm $HELM_VERSION (go install helm.sh/helm/v3/cmd/helm)"
  (
    export CGO_ENABLED=0 GOFLAGS= GOBIN="$BIN"
    cd /
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  ) >"$K8S_CACHE/helm-build.log" 2>&1 || { tail -20 "$K8S_CACHE/helm-build.log" >&2; die "helm build failed"; }
  log "built helm in $(since "$t0") s"
}

cmd_build() {
  ensure_packages
  build_binaries
  build_crictl
  build_helm
}

# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs (openssl)
# ---------------------------------------------------------------------------------------------
# ECDSA P-256 keys: ~5 ms each, against ~200 ms for RSA 2048 (11 keys: 2 s of every `up`).
genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign NAME SUBJECT SANS(comma list or "") EXT(client|server|both) CA
sign() {
  local name=$1 subj=$2 sans=$3 usage=$4 ca=${5:-ca}
  local eku
  case $usage in
    client) eku=clientAuth ;;
    server) eku=serverAuth ;;
    both) eku=serverAuth,clientAuth ;;
  esac
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  genkey "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

make_ca() {
  local name=$1 cn=$2
  genkey "$PKI/$name.key"
  openssl req -x509 -new -nodes -key "$PKI/$name.key" -subj "/CN=$cn" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/$name.crt" 2>/dev/null
}

# kubeconfig FILE USER CERTNAME
kubeconfig() {
  local file=$1 user=$2 cert=$3
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: podfiles
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: podfiles
  context:
    cluster: podfiles
    user: $user
    namespace: default
current-context: podfiles
KC
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  make_ca ca podfiles-cluster-ca
  make_ca front-proxy-ca podfiles-front-proxy-ca
  sign apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" server
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "" client
  sign admin "/O=system:masters/CN=kubernetes-admin" "" client
  sign controller-manager "/CN=system:kube-controller-manager" "" client
  sign scheduler "/CN=system:kube-scheduler" "" client
  sign kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "" client
  sign kubelet-serving "/CN=$NODE_NAME" "IP:127.0.0.1,DNS:localhost" server
  sign front-proxy-client "/CN=front-proxy-client" "" client front-proxy-ca
  genkey "$PKI/sa.key"   # service-account tokens are signed ES256
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  kubeconfig "$KUBECONFIG_ADMIN" kubernetes-admin admin
  kubeconfig "$STATE/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kubeconfig "$STATE/scheduler.kubeconfig" system:kube-scheduler scheduler
  kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client
  if ((NODES == 2)); then node_b_pki; fi
}

# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------
# start NAME CMD...: runs in its own session, output to $LOGS/NAME.log, pid in $RUN/NAME.pid
start() {
  local name=$1
  shift
  # 9>&-: the components must not inherit the lock of lock()
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 9>&- &
  echo $! >"$RUN/$name.pid"
}

pid_of() { [[ -f $RUN/$1.pid ]] && cat "$RUN/$1.pid"; }
# A process that exited but was not yet reaped (our components are reparented to PID 1, which reaps
# late here) still answers kill -0: count zombies as gone.
pid_alive() {
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n $st && $st != Z && $st != X ]]
}
alive() {
  local pid
  pid="$(pid_of "$1")" || return 1
  [[ -n $pid ]] && pid_alive "$pid"
}

# wait_for WHAT TIMEOUT_S COMPONENT CMD...: polls CMD until it succeeds; dies with the log tail if
# COMPONENT exited or the time ran out.
wait_for() {
  local what=$1 timeout=$2 comp=$3
  shift 3
  local deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $comp ]] && ! alive "$comp"; then
      tail -30 "$LOGS/$comp.log" >&2
      die "$comp exited while waiting for $what (log: $LOGS/$comp.log)"
    fi
    if (($(date +%s) > deadline)); then
      [[ -n $comp ]] && tail -30 "$LOGS/$comp.log" >&2
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep 0.2
  done
}

# stop_procs NAME...: SIGTERM to all at once, wait up to $STOP_PATIENCE_S (default 10) s, then
# SIGKILL what is left
stop_procs() {
  local name pid i t0 pids=() names=()
  t0="$(now)"
  for name in "$@"; do
    pid="$(pid_of "$name")" || continue
    if [[ -n $pid ]] && pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$name")
    fi
    rm -f "$RUN/$name.pid"
  done
  ((${#pids[@]})) || return 0
  local tenths=$((${STOP_PATIENCE_S:-10} * 10))
  for ((i = 0; i < tenths; i++)); do
    local left=0
    for pid in "${pids[@]}"; do pid_alive "$pid" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if pid_alive "${pids[$i]}"; then
      log "${names[$i]} did not stop on SIGTERM within ${STOP_PATIENCE_S:-10} s: SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
  [[ -n ${PODFILES_CLUSTER_VERBOSE:-} ]] && log "stopped ${names[*]} in $(since "$t0") s"
  return 0
}

kctl() { KUBECACHEDIR="$STATE/kubectl-cache" "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
crictl() { CRI_CONFIG_FILE="$STATE/crictl.yaml" "$BIN/crictl" --runtime-endpoint "unix://$CRI_SOCKET" --image-endpoint "unix://$CRI_SOCKET" --timeout 10s "$@"; }
ctr_k8s() { ctr -a "$CRI_SOCKET" -n k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------
start_etcd() {
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  start etcd "$ETCD_DIR/usr/bin/etcd" --name podfiles --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "podfiles=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --listen-metrics-urls "" --log-level warn
}

start_apiserver() {
  local pre=()
  if ((NODES == 2)); then
    # --kubelet-preferred-address-types=Hostname: the apiserver dials a kubelet by its node name
    # (node A's `localhost` is 127.0.0.1). In a mount namespace of its own, /etc/hosts also maps
    # node-b to its address; the machine's /etc/hosts is untouched. From the start: a running
    # apiserver does not pick the name up, and one restarted took over 10 s to exit (PRIOR-ART).
    { cat /etc/hosts; echo "$NODE_B_IP $NODE_B"; } >"$STATE/apiserver-hosts"
    pre=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$STATE/apiserver-hosts")
  fi
  start kube-apiserver "${pre[@]}" "$BIN/kube-apiserver" \
    --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --endpoint-reconciler-type=none \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true \
    --anonymous-auth=false \
    --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-username-headers=X-Remote-User \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --cert-dir="$STATE/apiserver-certs" \
    --profiling=false
}

start_controller_manager() {
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --controllers='*,bootstrapsigner,tokencleaner' \
    --flex-volume-plugin-dir="$STATE/flexvolume" \
    --cert-dir="$STATE/controller-manager-certs" \
    --profiling=false
}

start_scheduler() {
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 \
    --leader-elect=false \
    --profiling=false
}

# write_containerd_config DIR SOCKET CNI_DIR: a private containerd's config (root, state, runc root
# and CNI config dir under DIR / CNI_DIR, its own socket)
write_containerd_config() {
  local c=$1 sock=$2 cni=$3
  mkdir -p "$c/root" "$c/state" "$c/runc" "$c/opt" "$cni/net.d" "$cni/ipam"
  cat >"$c/config.toml" <<TOML
# Private containerd for the podfiles test cluster; generated by scripts/cluster.sh.
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Required here: root lacks CAP_SYS_RESOURCE, and runc fails every sandbox on oom_score_adj otherwise.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # sandbox network namespaces under the state dir, not /var/run/netns (shared with other runtimes)
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$c/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$cni/net.d"
    max_conf_num = 1
TOML
}

# write_cni_config CNI_DIR NETWORK BRIDGE RANGE_START RANGE_END [GATEWAY SERVICE_CIDR]
# Node A (no gateway): a bridge that is not a gateway and no routes in pods: pods talk to pods on
# $POD_NET and to nothing else, the host's ip_forward stays untouched and nothing can leave the
# machine from a pod. Node B (gateway): its bridge is the pods' gateway to the Service CIDR, which
# node B's kube-proxy translates inside node B's network namespace.
write_cni_config() {
  local cni=$1 name=$2 bridge=$3 start=$4 end=$5 gw=${6:-} svc=${7:-}
  local gwjson="" routes=""
  if [[ -n $gw ]]; then
    gwjson=", \"gateway\": \"$gw\""
    routes=", \"routes\": [{\"dst\": \"$svc\", \"gw\": \"$gw\"}]"
  fi
  cat >"$cni/net.d/10-$name.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": $([[ -n $gw ]] && echo true || echo false),
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_NET", "rangeStart": "$start", "rangeEnd": "$end"$gwjson}]],
        "dataDir": "$cni/ipam"$routes
      }
    }
  ]
}
JSON
}

start_containerd() {
  write_containerd_config "$STATE/containerd" "$CRI_SOCKET" "$STATE/cni"
  write_cni_config "$STATE/cni" podfiles "$CNI_BRIDGE" "${POD_RANGE_A[@]}"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n' "$CRI_SOCKET" "$CRI_SOCKET" >"$STATE/crictl.yaml"
  start containerd containerd --config "$STATE/containerd/config.toml"
}

# import_image KIND SOCKET...: one image into the k8s.io namespace of each containerd
import_image() {
  local kind=$1 tar sock ref
  shift
  tar="$("$REPO_ROOT/scripts/images.sh" "$kind" "$CACHE/images")" || die "scripts/images.sh $kind failed"
  ref="$("$REPO_ROOT/scripts/images.sh" ref "$kind" 2>/dev/null)" || ref=""
  # into every containerd at once (the agent's 215 MB layer takes seconds per import)
  local pids=() i=0
  for sock in "$@"; do
    ctr -a "$sock" -n k8s.io images import "$tar" >>"$LOGS/images.log" 2>&1 &
    pids+=($!)
  done
  for sock in "$@"; do
    wait "${pids[$i]}" || die "ctr images import $tar into $sock failed (log: $LOGS/images.log)"
    i=$((i + 1))
    if [[ -n $ref ]]; then
      ctr -a "$sock" -n k8s.io images ls -q | grep -x "$ref" >/dev/null || die "image $ref not present in $sock after importing $tar"
    fi
  done
}

# The podfiles agent image: built by `scripts/images.sh agent OUTDIR` once that exists (someone
# else's part); until then this hook only says it skipped.
import_agent_image() {
  if grep -qE '(^|[|( ])agent[|)]|build_agent' "$REPO_ROOT/scripts/images.sh" 2>/dev/null; then
    log "importing the podfiles agent image (scripts/images.sh agent)"
    import_image agent "$@"
  else
    log "scripts/images.sh has no 'agent' image yet: skipping the podfiles agent image"
  fi
}


# write_kubelet_config DIR ADDRESS CERT SOCKET [CGROUP_ROOT]: DIR/kubelet-config.yaml, with the
# kubelet's root dir, volume plugin dir and pod logs under DIR, serving cert $PKI/CERT.{crt,key}
write_kubelet_config() {
  local dir=$1 address=$2 cert=$3 sock=$4 cgroot=${5:-}
  mkdir -p "$dir/kubelet" "$dir/kubelet-plugins" "$dir/pod-logs"
  cat >"$dir/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $address
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $PKI/$cert.crt
tlsPrivateKeyFile: $PKI/$cert.key
cgroupDriver: cgroupfs
${cgroot:+cgroupRoot: $cgroot}
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
makeIPTablesUtilChains: false
protectKernelDefaults: false
failSwapOn: false
volumePluginDir: $dir/kubelet-plugins
podLogsDir: $dir/pod-logs
clusterDomain: cluster.local
resolvConf: ""
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
serializeImagePulls: false
shutdownGracePeriod: 0s
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
YAML
}

start_kubelet() {
  write_kubelet_config "$STATE" 127.0.0.1 kubelet-serving "$CRI_SOCKET"
  # --node-ip: the address of pf-node-a (hostNetwork pods' podIP, the Service endpoints of the
  # agents); the kubelet itself still listens on 127.0.0.1, where the apiserver dials `localhost`.
  start kubelet "$BIN/kubelet" \
    --config="$STATE/kubelet-config.yaml" \
    --kubeconfig="$STATE/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_A_IP" \
    --root-dir="$STATE/kubelet" \
    --cert-dir="$STATE/kubelet-certs"
}

# node_ready NAME
node_ready() {
  [[ $(kctl get node "${1:-$NODE_NAME}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# ---------------------------------------------------------------------------------------------
# Host state that the kubelet and CNI change, saved at `up` and restored at `down`
# ---------------------------------------------------------------------------------------------
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)
# Paths outside the state dir that the kubelet creates; removed at `down` only if `up` created them.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/mount /run/netns)

save_host_state() {
  local k
  for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$STATE/sysctls.saved"
  for k in "${HOST_PATHS[@]}"; do [[ -e $k ]] || echo "$k"; done >"$STATE/host-paths.created"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
# The node names of this cluster, node A first.
node_names() { if ((NODES == 2)); then echo "$NODE_NAME $NODE_B"; else echo "$NODE_NAME"; fi; }
components() {
  echo etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet
  ((NODES == 2)) && echo node-b-holder apiserver-relay node-b-relay containerd-b kubelet-b kube-proxy-b
  return 0
}

cluster_healthy() {
  [[ -f $STATE/up.done ]] || return 1
  [[ $NODES == "$NODES_WANTED" ]] || return 1
  local c n
  for c in $(components); do alive "$c" || return 1; done
  for n in $(node_names); do node_ready "$n" || return 1; done
}

cmd_up() {
  if cluster_healthy; then
    log "cluster already up ($NODES node(s), state: $STATE)"
    return 0
  fi
  if [[ -e $STATE ]]; then
    log "stale state in $STATE (or PODFILES_NODES=$NODES_WANTED differs from its $NODES node(s)): tearing it down first"
    cmd_down
  fi
  NODES="$NODES_WANTED"
  ensure_packages
  build_binaries
  build_crictl
  build_helm
  [[ -x $REPO_ROOT/scripts/images.sh ]] || die "scripts/images.sh is missing"
  local t0
  t0="$(now)"
  mkdir -p "$STATE" "$LOGS" "$RUN"
  echo "$NODES" >"$STATE/nodes"
  save_host_state
  make_pki
  net_up

  start_etcd
  start_containerd
  local socks=("$CRI_SOCKET")
  if ((NODES == 2)); then
    node_b_start_runtime
    socks+=("$NB_CRI")
  fi
  wait_for "etcd health" 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd healthy ($(since "$t0") s)"
  start_apiserver
  wait_for "containerd" 30 containerd ctr -a "$CRI_SOCKET" version
  ((NODES == 2)) && wait_for "containerd of $NODE_B" 30 containerd-b ctr -a "$NB_CRI" version
  [[ -x $REPO_ROOT/scripts/images.sh ]] || die "scripts/images.sh is missing: cannot build the pause and busybox images"
  import_image pause "${socks[@]}"
  import_image busybox "${socks[@]}"
  log "pause and busybox images imported into ${#socks[@]} containerd(s) ($(since "$t0") s)"
  # The agent image (215 MB, unpacked by each containerd: ~25 s for two on a busy machine; minutes
  # to build when its sources changed) is imported while the control plane and the kubelets start.
  import_agent_image "${socks[@]}" 2>>"$LOGS/images.log" &
  local agent_import=$!
  wait_for "kube-apiserver /readyz" 90 kube-apiserver kctl get --raw /readyz
  log "kube-apiserver ready ($(since "$t0") s)"
  start_controller_manager
  start_scheduler
  start_kubelet
  ((NODES == 2)) && node_b_start_kubelet
  wait_for "node $NODE_NAME Ready" 120 kubelet node_ready "$NODE_NAME"
  log "node $NODE_NAME Ready ($(since "$t0") s)"
  if ((NODES == 2)); then
    wait_for "node $NODE_B Ready" 120 kubelet-b node_ready "$NODE_B"
    log "node $NODE_B Ready ($(since "$t0") s)"
  fi
  wait_for "default ServiceAccount" 90 kube-controller-manager kctl -n default get serviceaccount default
  wait "$agent_import" || die "importing the agent image failed (log: $LOGS/images.log)"
  log "agent image imported ($(since "$t0") s)"
  local c
  for c in $(components); do alive "$c" || die "$c exited (log: $LOGS/$c.log)"; done
  write_nodes_file
  touch "$STATE/up.done"
  log "cluster up with $NODES node(s) in $(since "$t0") s; eval \"\$($0 env)\" to use it"
}

# $STATE/nodes.json: per node its name, address, CRI socket (as seen from the host) and network
# namespace ("" = the host's), for the tests.
write_nodes_file() {
  {
    printf '[\n  {"name": "%s", "ip": "%s", "criSocket": "%s", "netns": ""}' "$NODE_NAME" "$NODE_A_IP" "$CRI_SOCKET"
    ((NODES == 2)) && printf ',\n  {"name": "%s", "ip": "%s", "criSocket": "%s", "netns": "%s"}' "$NODE_B" "$NODE_B_IP" "$NB_CRI" "$NETNS_B"
    printf '\n]\n'
  } >"$STATE/nodes.json"
}

cmd_env() {
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
  echo "export CRI_SOCKET=$CRI_SOCKET"
  echo "export CRI_CONFIG_FILE=$STATE/crictl.yaml"
  echo "export KUBECACHEDIR=$STATE/kubectl-cache"
  echo "export PODFILES_CLUSTER_NODES_FILE=$STATE/nodes.json"
  echo "export PATH=$BIN:\$PATH"
}

cmd_status() {
  local c rc=0 pid n
  for c in $(components); do
    if alive "$c"; then pid="$(pid_of "$c")"; printf '%-24s running (pid %s)\n' "$c" "$pid"
    else printf '%-24s not running\n' "$c"; rc=1; fi
  done
  for n in $(node_names); do
    if [[ -x $BIN/kubectl && -f $KUBECONFIG_ADMIN ]] && node_ready "$n"; then
      echo "node $n: Ready"
    else
      echo "node $n: not ready"
      rc=1
    fi
  done
  return $rc
}

# Processes started by our containerd that outlive it: its shims (their command line names our
# socket) and everything in the kubepods cgroups.
our_shim_pids() {
  pgrep -f -- "containerd-shim.* -address ${CRI_SOCKET}( |\$)" || true
}
kubepods_pids() {
  local h
  for h in /sys/fs/cgroup/*/kubepods; do
    [[ -d $h ]] && find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
  return 0
}

# remove_shim_sockets CONTAINERD_DIR SOCKET
remove_shim_sockets() {
  local tasks="$1/state/io.containerd.runtime.v2.task" address=$2 d ns id sock
  [[ -d $tasks ]] || return 0
  for d in "$tasks"/*/*; do
    [[ -d $d ]] || continue
    id="${d##*/}"
    ns="${d%/*}"
    ns="${ns##*/}"
    sock="/run/containerd/s/$(printf '%s' "$address/$ns/$id" | sha256sum | cut -d' ' -f1)"
    [[ -S $sock ]] && rm -f "$sock"
    # libcni's cache of the loopback network containerd sets up per sandbox (no CNI DEL after a crash)
    rm -f "/var/lib/cni/results/cni-loopback-$id-lo"
  done
  return 0
}

cleanup_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
    [[ -d $h ]] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -d $h ]] && log "WARNING: could not remove cgroup $h"
  done
  return 0
}

mounts_under() { findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d) == 1' | sort -ru; }
unmount_under() {
  local dir=$1 m pass
  # deepest first; shared mounts may show up again through propagation, hence several passes
  for ((pass = 0; pass < 5; pass++)); do
    [[ -z $(mounts_under "$dir") ]] && return 0
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$dir")
  done
  mounts_under "$dir" | sed 's/^/[cluster] WARNING: still mounted: /' >&2
}

cmd_down() {
  local t0 pids p
  t0="$(now)"
  if [[ ! -e $STATE ]]; then
    log "nothing to tear down ($STATE does not exist)"
    return 0
  fi
  # 1. nothing may recreate or restart pods while they are being removed
  stop_procs kube-controller-manager kube-scheduler kubelet kubelet-b kube-proxy-b
  # 2. every pod sandbox is stopped (containers killed, CNI DEL, netns removed) and removed via CRI
  if alive containerd && [[ -x $BIN/crictl ]]; then
    local sb
    for sb in $(crictl pods -q 2>/dev/null); do
      crictl stopp "$sb" >/dev/null 2>&1 || log "WARNING: crictl stopp $sb failed"
      crictl rmp -f "$sb" >/dev/null 2>&1 || log "WARNING: crictl rmp $sb failed"
    done
    [[ -n $(crictl pods -q 2>/dev/null) ]] && log "WARNING: pod sandboxes left in containerd: $(crictl pods -q | tr '\n' ' ')"
  fi
  # node B: its sandboxes, containerd, relays, shims, holder (mount namespace), cgroups, netns
  node_b_down
  # 3. the rest of the control plane and containerd. The apiserver waits for open requests after
  #    SIGTERM (measured: over 10 s after a test run); its etcd data is deleted next, so 3 s it is.
  stop_procs containerd
  STOP_PATIENCE_S=3 stop_procs kube-apiserver
  stop_procs etcd
  # 4. leftovers: shims of our containerd and container processes in the kubepods cgroups
  pids="$(our_shim_pids) $(kubepods_pids)"
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  [[ -n ${pids// /} ]] && sleep 0.5
  # shim sockets live in /run/containerd/s whatever the state dir; a shim that was killed leaves its
  # socket there. Its name is sha256("<containerd address>/<namespace>/<task id>"). Same for libcni's
  # result cache in /var/lib/cni/results when containerd died before CNI DEL.
  remove_shim_sockets "$STATE/containerd" "$CRI_SOCKET"
  # 5. mounts (the kubelet's rshared bind mount of its root dir, pod volumes, rootfs, shm, sandbox
  #    network namespaces: netns_mounts_under_state_dir), cgroups, network, sysctls, files
  unmount_under "$STATE/"
  cleanup_cgroups
  ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link delete "$CNI_BRIDGE"
  ip link show "$NODE_A_LINK" >/dev/null 2>&1 && ip link delete "$NODE_A_LINK"
  # libcni's result cache (/var/lib/cni/results/<network>-<id>-<if>) for our network only
  rm -f /var/lib/cni/results/podfiles-* 2>/dev/null || true
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  if [[ -f $STATE/sysctls.saved ]]; then
    local kv
    while read -r kv; do
      [[ $(sysctl -n "${kv%%=*}") == "${kv#*=}" ]] || sysctl -qw "$kv" || log "WARNING: could not restore $kv"
    done <"$STATE/sysctls.saved"
  fi
  # container log symlinks the kubelet made in /var/log/containers point into our podLogsDir
  local l
  for l in /var/log/containers/*.log; do
    [[ -L $l && $(readlink "$l") == "$STATE/"* ]] && rm -f "$l"
  done
  if [[ -f $STATE/host-paths.created ]]; then
    local hp
    while read -r hp; do
      [[ -n $hp && -e $hp ]] || continue
      if [[ $hp == /run/netns ]]; then
        # `ip netns add` made it (a bind mount of itself); only ours was in it
        if [[ -z $(ls -A /run/netns) ]]; then umount /run/netns 2>/dev/null; rmdir /run/netns; fi
        continue
      fi
      unmount_under "$hp/"
      rm -rf "$hp"
    done <"$STATE/host-paths.created"
  fi
  rm -rf "$STATE"
  log "cluster down in $(since "$t0") s"
  verify_clean
}

# Reports anything of ours that is still there; exit status 1 if something is.
verify_clean() {
  local bad=0 p
  p="$(our_shim_pids)"
  [[ -n $p ]] && { log "LEFT: shim processes $p"; bad=1; }
  findmnt -rn -o TARGET | grep "^$STATE" >/dev/null && { log "LEFT: mounts under $STATE"; bad=1; }
  compgen -G "/sys/fs/cgroup/*/kubepods" >/dev/null && { log "LEFT: kubepods cgroups"; bad=1; }
  ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && { log "LEFT: bridge $CNI_BRIDGE"; bad=1; }
  ip link show "$NODE_A_LINK" >/dev/null 2>&1 && { log "LEFT: link $NODE_A_LINK"; bad=1; }
  node_b_leftovers || bad=1
  compgen -G "/var/lib/cni/results/podfiles-*" >/dev/null && { log "LEFT: /var/lib/cni/results/podfiles-*"; bad=1; }
  [[ -e $STATE ]] && { log "LEFT: $STATE"; bad=1; }
  [[ -S $CRI_SOCKET ]] && { log "LEFT: $CRI_SOCKET"; bad=1; }
  ((bad == 0)) && log "verified: no processes, mounts, cgroups, links, network namespace or state left"
  return $bad
}

# One `up`/`down`/`build` at a time (two test processes may call `up` together).
lock() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.cluster.lock"
  flock -w 900 9 || die "another scripts/cluster.sh has held $CACHE/.cluster.lock for 15 minutes"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in build | up | down) lock ;; esac
  case "$cmd" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    verify-clean) verify_clean ;;
    *) echo "usage: $0 up|down|status|env|build|verify-clean" >&2; exit 2 ;;
  esac
}

main "$@"
