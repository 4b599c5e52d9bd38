#!/usr/bin/env bash
# Regenerates gen/ from proto/ with pinned generators:
#   TypeScript: protoc-gen-es (npm devDependency)
#   Go: protoc-gen-go, protoc-gen-go-grpc, protoc-gen-connect-go (go install, cached in $PODFILES_CACHE/gobin)
#   Third-party protos the server implements (grpc reflection v1/v1alpha, grpc.health.v1) are
#   generated for TypeScript from the npm packages that ship them, not copied into this repo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/go-tools.sh
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
go_tool protoc-gen-connect-go connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.19.1
export PATH="$GOBIN:$PATH"

rm -rf gen/ts gen/go/podfiles
npx buf generate
# reflection and health: TypeScript only, for the server's own implementation
for dir in node_modules/@grpc/reflection/build/proto node_modules/grpc-health-check/proto; do
  npx buf generate "$dir" --exclude-path "$dir/sample" \
    --template '{"version":"v2","plugins":[{"local":"node_modules/.bin/protoc-gen-es","out":"gen/ts/third_party","opt":["target=ts","import_extension=js"]}]}'
done
