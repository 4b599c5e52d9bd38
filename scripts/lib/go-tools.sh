# Sourced by scripts: installs pinned Go tools once into a cache outside the repo.
#   go_tool NAME MODULE@VERSION  -> $GOBIN/NAME (reinstalled when the version changes)
PODFILES_CACHE="${PODFILES_CACHE:-$HOME/.cache/podfiles}"
export GOBIN="$PODFILES_CACHE/gobin"
mkdir -p "$GOBIN"
go_tool() {
  local name=$1 spec=$2 stamp="$GOBIN/.$1.version"
  if [ -x "$GOBIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$spec" ]; then return 0; fi
  echo "installing $spec" >&2
  go install "$spec"
  echo "$spec" > "$stamp"
}
