# Node B of scripts/cluster.sh (sourced by it; uses its variables and helpers): a second kubelet on
# this machine with its own containerd, root dir, cgroup root, node name, network namespace and
# address, and kube-proxy. The recipe of shared/PRIOR-ART.md ("A second node runs on this machine"):
#
#   host netns                                   netns podfiles-node-b (mount ns of the holder)
#   ----------                                   -----------------------------------------------
#   pf-node-a (bridge) 10.234.0.1/32  <-- veth pf-node-b <-> eth0 -->  10.234.0.2/32 (node-b's IP)
#   route 10.234.0.2/32 dev pf-node-b            route 10.234.0.1/32 dev eth0
#   route 10.244.1.0/24 via 10.234.0.2           ip_forward=1 (this namespace only)
#   bridge podfiles0 (node A's pods, .0.x)  <-- veth pf-br-a <-> pf-br-b -->  bridge podfiles1
#                                                10.244.1.1/16: node B pods' gateway to Services
#   kube-apiserver 127.0.0.1:6443                socat 127.0.0.1:6443 (relay in the netns)
#     <- socat $STATE/relay/apiserver.sock  <-- unix socket (works across network namespaces)
#                                                containerd-b, kubelet-b (listens on 10.234.0.2),
#                                                kube-proxy (iptables mode, this netns only)
#
# - The apiserver listens on 127.0.0.1 only; the relay lets node B reach https://127.0.0.1:6443
#   unchanged (no new certificate names, and KUBERNETES_SERVICE_HOST=127.0.0.1 works for node B's
#   hostNetwork pods too).
# - The holder (`unshare -m --propagation slave` inside the netns, then `sleep`) owns node B's mount
#   namespace: it bind-mounts node B's run dir over $STATE/run, so the DaemonSet's one hostPath for
#   the CRI socket directory means each node's own containerd. containerd-b, kubelet-b, kube-proxy
#   and the relay start with `nsenter -t HOLDER -m -n` (not `ip netns exec`, which makes a new mount
#   namespace per command). Node B's pod mounts stay off the host and vanish with the holder.
#   It also gives node B its own /var/lib/kubelet and /var/log/containers (the kubelet writes
#   device-plugins/kubelet.sock and log links there whatever --root-dir says).
# - cgroupRoot /podfiles-node-b (created in every v1 hierarchy, cpuset copied from the parent), so
#   node B's kubepods never mix with node A's.
NODE_B=node-b
NODE_B_IP=10.234.0.2
NETNS_B=podfiles-node-b
NB="$STATE/node-b"
NB_RUN="$NB/run"
NB_CRI="$NB_RUN/containerd.sock"
NB_CGROUP=podfiles-node-b
NB_LINK_HOST=pf-node-b # host end of the veth to node B (node B's end is eth0)
NB_BR_VETH=(pf-br-a pf-br-b)
NB_BRIDGE=podfiles1
NB_GATEWAY=10.244.1.1
NB_POD_SUBNET=10.244.1.0/24
POD_RANGE_B=(10.244.1.2 10.244.1.254)
RELAY_SOCK="$STATE/relay/apiserver.sock"
NODE_B_PROCS=(kube-proxy-b kubelet-b containerd-b node-b-relay apiserver-relay node-b-holder)

nb_holder() { pid_of node-b-holder; }
# nb CMD...: CMD in node B's network and mount namespaces
nb() { nsenter -t "$(nb_holder)" -m -n "$@"; }
crictl_b() { CRI_CONFIG_FILE="$NB/crictl.yaml" "$BIN/crictl" --runtime-endpoint "unix://$NB_CRI" --image-endpoint "unix://$NB_CRI" --timeout 10s "$@"; }

node_b_pki() {
  sign kubelet-b-client "/O=system:nodes/CN=system:node:$NODE_B" "" client
  sign kubelet-b-serving "/CN=$NODE_B" "DNS:$NODE_B,IP:$NODE_B_IP" server
  sign kube-proxy "/CN=system:kube-proxy" "" client
  mkdir -p "$NB"
  kubeconfig "$NB/kubelet.kubeconfig" "system:node:$NODE_B" kubelet-b-client
  kubeconfig "$NB/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
}

# Node A's address (both modes) and, with two nodes, node B's namespace, links and routes.
net_up() {
  # a bridge without ports holds it (this kernel has no dummy driver); traffic to it stays local
  ip link add "$NODE_A_LINK" type bridge
  ip addr add "$NODE_A_IP/32" dev "$NODE_A_LINK"
  ip link set "$NODE_A_LINK" up
  # the CNI plugin would create it at the first pod; node B's bridge is joined to it now
  ip link add "$CNI_BRIDGE" type bridge
  ip link set "$CNI_BRIDGE" up
  ((NODES == 2)) || return 0
  ip netns add "$NETNS_B"
  ip -n "$NETNS_B" link set lo up
  ip link add "$NB_LINK_HOST" type veth peer name eth0 netns "$NETNS_B"
  ip link set "$NB_LINK_HOST" up
  ip -n "$NETNS_B" addr add "$NODE_B_IP/32" dev eth0
  ip -n "$NETNS_B" link set eth0 up
  # /32 addresses and routes with an explicit source: the host end carries no address of its own
  ip route add "$NODE_B_IP/32" dev "$NB_LINK_HOST" src "$NODE_A_IP"
  ip -n "$NETNS_B" route add "$NODE_A_IP/32" dev eth0 src "$NODE_B_IP"
  # replies of node A's hostNetwork pods (the agent) to node B's pods that reached them via a Service
  ip route add "$NB_POD_SUBNET" via "$NODE_B_IP" dev "$NB_LINK_HOST" src "$NODE_A_IP"
  # one pod network: node B's bridge joined to node A's by a veth pair
  ip -n "$NETNS_B" link add "$NB_BRIDGE" type bridge
  ip -n "$NETNS_B" addr add "$NB_GATEWAY/${POD_NET#*/}" dev "$NB_BRIDGE"
  ip -n "$NETNS_B" link set "$NB_BRIDGE" up
  ip link add "${NB_BR_VETH[0]}" type veth peer name "${NB_BR_VETH[1]}" netns "$NETNS_B"
  ip link set "${NB_BR_VETH[0]}" master "$CNI_BRIDGE" up
  ip -n "$NETNS_B" link set "${NB_BR_VETH[1]}" master "$NB_BRIDGE" up
  # node B's pods reach Services through kube-proxy's DNAT in this namespace, then eth0
  nsenter --net="/run/netns/$NETNS_B" sysctl -qw net.ipv4.ip_forward=1
}

node_b_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    h="${h%/}"
    [[ -L $h ]] && continue
    mkdir -p "$h/$NB_CGROUP"
    if [[ -f $h/cpuset.cpus ]]; then
      cat "$h/cpuset.cpus" >"$h/$NB_CGROUP/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$NB_CGROUP/cpuset.mems"
    fi
  done
}

write_kube_proxy_config() {
  cat >"$NB/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $NB/kube-proxy.kubeconfig
hostnameOverride: $NODE_B
mode: iptables
clusterCIDR: $POD_NET
bindAddress: $NODE_B_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_B_IP/32"]
# 0: leave the (machine-wide) conntrack sysctls alone
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
}

# Starts node B up to its kubelet and kube-proxy (the apiserver must be ready first for the kubelet
# to register; containerd-b may start earlier).
node_b_start_runtime() {
  mkdir -p "$NB_RUN" "$STATE/relay"
  touch "$NB_RUN/.node-b"
  node_b_cgroups
  # the kubelet writes /var/lib/kubelet/device-plugins and /var/log/containers whatever its root
  # dir: node B gets its own (the host paths must exist to be mounted over; `down` removes them
  # if `up` created them, see HOST_PATHS)
  mkdir -p /var/lib/kubelet /var/log/containers "$NB/host/var-lib-kubelet" "$NB/host/var-log-containers"
  start node-b-holder nsenter --net="/run/netns/$NETNS_B" unshare -m --propagation slave \
    sh -c 'mount --bind "$0" "$1" && mount --bind "$2" /var/lib/kubelet && mount --bind "$3" /var/log/containers && exec sleep infinity' \
    "$NB_RUN" "$RUN" "$NB/host/var-lib-kubelet" "$NB/host/var-log-containers"
  wait_for "node B's mount namespace" 10 node-b-holder nb test -e "$RUN/.node-b"
  start apiserver-relay socat "UNIX-LISTEN:$RELAY_SOCK,fork,unlink-early,mode=600" "TCP:127.0.0.1:$APISERVER_PORT"
  start node-b-relay nsenter -t "$(nb_holder)" -m -n \
    socat "TCP-LISTEN:$APISERVER_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$RELAY_SOCK"
  write_containerd_config "$NB/containerd" "$NB_CRI" "$NB/cni"
  write_cni_config "$NB/cni" podfiles-b "$NB_BRIDGE" "${POD_RANGE_B[@]}" "$NB_GATEWAY" "$SERVICE_CIDR"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n' "$NB_CRI" "$NB_CRI" >"$NB/crictl.yaml"
  start containerd-b nsenter -t "$(nb_holder)" -m -n containerd --config "$NB/containerd/config.toml"
}

node_b_start_kubelet() {
  write_kubelet_config "$NB" "$NODE_B_IP" kubelet-b-serving "$NB_CRI" "/$NB_CGROUP"
  start kubelet-b nsenter -t "$(nb_holder)" -m -n "$BIN/kubelet" \
    --config="$NB/kubelet-config.yaml" \
    --kubeconfig="$NB/kubelet.kubeconfig" \
    --hostname-override="$NODE_B" \
    --node-ip="$NODE_B_IP" \
    --root-dir="$NB/kubelet" \
    --cert-dir="$NB/kubelet-certs"
  write_kube_proxy_config
  start kube-proxy-b nsenter -t "$(nb_holder)" -m -n "$BIN/kube-proxy" --config="$NB/kube-proxy.yaml"
}

# socat forks a child per connection; they go with their parent.
stop_relays() {
  local name pid kids
  for name in node-b-relay apiserver-relay; do
    kids=()
    pid="$(pid_of "$name")" || continue
    [[ -n $pid ]] && read -r -a kids <<<"$(pgrep -P "$pid" | tr '\n' ' ')"
    stop_procs "$name"
    ((${#kids[@]})) && kill -KILL "${kids[@]}" 2>/dev/null
  done
  return 0
}

node_b_pids_in_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/"$NB_CGROUP"; do
    [[ -d $h ]] && find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
  return 0
}

# Everything of node B, in order; safe to run when node B (or any part of it) never started.
node_b_down() {
  stop_procs kube-proxy-b kubelet-b
  if alive containerd-b && [[ -x $BIN/crictl ]]; then
    local sb
    for sb in $(crictl_b pods -q 2>/dev/null); do
      crictl_b stopp "$sb" >/dev/null 2>&1 || log "WARNING: node B: crictl stopp $sb failed"
      crictl_b rmp -f "$sb" >/dev/null 2>&1 || log "WARNING: node B: crictl rmp $sb failed"
    done
  fi
  stop_procs containerd-b
  stop_relays
  local pids p
  pids="$(pgrep -f -- "containerd-shim.* -address ${NB_CRI}( |\$)") $(node_b_pids_in_cgroups)" || true
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  [[ -n ${pids// /} ]] && sleep 0.5
  remove_shim_sockets "$NB/containerd" "$NB_CRI"
  # the holder last: with it go node B's mount namespace (pod mounts, sandbox netns mounts)
  stop_procs node-b-holder
  local h
  for h in /sys/fs/cgroup/*/"$NB_CGROUP"; do
    [[ -d $h ]] || continue
    find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -d $h ]] && log "WARNING: could not remove cgroup $h"
  done
  # the veth ends and node B's bridge go with the namespace
  ip netns list 2>/dev/null | grep -qw "^$NETNS_B" && ip netns delete "$NETNS_B"
  local i
  for ((i = 0; i < 50; i++)); do
    ip link show "$NB_LINK_HOST" >/dev/null 2>&1 || ip link show "${NB_BR_VETH[0]}" >/dev/null 2>&1 || break
    sleep 0.1
  done
  ip link show "$NB_LINK_HOST" >/dev/null 2>&1 && ip link delete "$NB_LINK_HOST"
  ip link show "${NB_BR_VETH[0]}" >/dev/null 2>&1 && ip link delete "${NB_BR_VETH[0]}"
  return 0
}

# Prints what of node B is left; exit status 1 if anything is.
node_b_leftovers() {
  local bad=0 p
  p="$(pgrep -f -- "containerd-shim.* -address ${NB_CRI}( |\$)" || true)"
  [[ -n $p ]] && { log "LEFT: node B shim processes $p"; bad=1; }
  compgen -G "/sys/fs/cgroup/*/$NB_CGROUP" >/dev/null && { log "LEFT: cgroups /sys/fs/cgroup/*/$NB_CGROUP"; bad=1; }
  ip netns list 2>/dev/null | grep -qw "^$NETNS_B" && { log "LEFT: network namespace $NETNS_B"; bad=1; }
  local l
  for l in "$NB_LINK_HOST" "${NB_BR_VETH[0]}"; do
    ip link show "$l" >/dev/null 2>&1 && { log "LEFT: link $l"; bad=1; }
  done
  return $bad
}
