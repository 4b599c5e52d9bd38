# podfiles agent image: localhost/podfiles-agent:dev (deploy/daemonset.yaml).
#
#   docker build -t localhost/podfiles-agent:dev .          (or: buildah bud / nerdctl build)
#   # a kind or kubeadm node with containerd: load it without a registry
#   docker save localhost/podfiles-agent:dev | ctr -n k8s.io images import -
#   kubectl apply -k deploy/
#
# Two stages: the build stage has the compilers (node-gyp for the openat2 addon, tsc for the
# TypeScript); the runtime stage has node, the production node_modules, the compiled JS and the
# addon, and runs as root (the agent needs root with a few capabilities: see daemonset.yaml) on
# a read-only root filesystem. Not built on the project's own machines (no registry or image
# builder there); the cluster harness loads the image it builds with its own hook.

FROM node:24-slim AS build
# node-gyp needs python3, make and a C compiler for native/openat2
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# all dependencies (typescript, protoc plugins) for the build; scripts run after the sources are in
RUN npm ci --ignore-scripts
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY gen ./gen
COPY src ./src
COPY bin ./bin
COPY native ./native
# the addon (openat2 RESOLVE_IN_ROOT) and the JS; gen/ is committed, no buf needed here
RUN node native/openat2/build.mjs \
 && npx tsc -p tsconfig.json \
 && npx vite build --config src/web-page/vite.config.ts \
 && npm prune --omit=dev

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
# the CRI subset proto is read at run time (src/cri/client.ts looks next to dist/src/cri)
COPY --from=build /src/src/cri/cri-subset.proto ./src/cri/cri-subset.proto
COPY --from=build /src/native/openat2/build/Release/openat2.node ./native/openat2/build/Release/openat2.node
ENV PODFILES_OPENAT2_ADDON=/app/native/openat2/build/Release/openat2.node
USER 0:0
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/podfiles.js"]
CMD ["agent", "--proc-root=/host/proc"]
