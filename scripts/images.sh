#!/usr/bin/env bash
# Builds the two container images the real-container tests use, as OCI image layout tarballs,
# without a registry or a network:
#
#   scripts/images.sh pause   OUTDIR   -> prints OUTDIR/podfiles-pause-1.oci.tar   (localhost/podfiles-pause:1)
#   scripts/images.sh busybox OUTDIR   -> prints OUTDIR/podfiles-busybox-1.oci.tar (localhost/podfiles-busybox:1)
#   scripts/images.sh ref pause|busybox -> prints the image reference
#
# pause:   a small static C program (gcc -static) that waits for signals and reaps children.
# busybox: Debian's busybox-static with its applet symlinks, /etc/passwd and /etc/group with root and
#          a non-root user `app` (uid 1000, gid 1000), /tmp 1777, /home/app owned by 1000.
#
# The index.json descriptor carries org.opencontainers.image.ref.name (and io.containerd.image.name)
# with the full `localhost/...` reference: without it `ctr images import` exits 0 and imports nothing.
# Import with:  ctr -a SOCK -n k8s.io images import "$(scripts/images.sh busybox DIR)"
#
# Results are cached in OUTDIR (keyed on this script, the busybox package version and gcc's version),
# so a second call returns at once. Concurrent calls on the same OUTDIR are serialised with flock.
# Only stdout carries the result path; progress goes to stderr.
set -euo pipefail

PAUSE_REF=localhost/podfiles-pause:1
BUSYBOX_REF=localhost/podfiles-busybox:1

usage() {
  echo "usage: $0 pause|busybox OUTDIR | ref pause|busybox" >&2
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

# pack_image ROOTFS REF CMD_JSON WORKDIR OUT
pack_image() {
  local rootfs=$1 ref=$2 cmd=$3 work=$4 out=$5
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

  jq -cn --arg arch "$arch" --arg diff "sha256:$layer_digest" --argjson cmd "$cmd" '{
      architecture: $arch, os: "linux",
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: $cmd, WorkingDir: "/"},
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

main() {
  [ $# -ge 2 ] || usage
  local kind=$1
  if [ "$kind" = ref ]; then
    case $2 in pause) echo "$PAUSE_REF" ;; busybox) echo "$BUSYBOX_REF" ;; *) usage ;; esac
    return
  fi
  case $kind in pause|busybox) ;; *) usage ;; esac
  local outdir=$2
  mkdir -p "$outdir"
  outdir=$(cd "$outdir" && pwd)
  local out="$outdir/podfiles-$kind-1.oci.tar"

  command -v jq >/dev/null || { log "jq is required"; exit 1; }
  local key
  if [ "$kind" = busybox ]; then
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
  "build_$kind" "$WORK" "$WORK/image.tar"
  mv -f "$WORK/image.tar" "$out"
  echo "$key" >"$out.key"
  echo "$out"
}

main "$@"
