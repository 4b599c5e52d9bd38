// Remote paths, kubectl-cp style: [namespace/]pod[/container]:path
//   web-0:/etc/hosts            pod web-0 in the default namespace (-n, $PODFILES_NAMESPACE, else "default")
//   prod/web-0:/var/log         pod web-0 in namespace prod
//   prod/web-0/nginx:/etc       container nginx of that pod (or -c nginx)
//   prod/web-0:nginx:/etc       the same, the container after the pod (only before an absolute path:
//                               "web-0:a:b" stays the relative path "a:b")
// An empty path means "/"; a relative one is taken from the container's root.
import { posix } from "node:path";
import { UsageError } from "./errors.js";

export interface ContainerRefLike {
  namespace: string;
  pod: string;
  container: string;
}

export interface RemotePath {
  container: ContainerRefLike;
  path: string;
}

export interface TargetDefaults {
  /** -n/--namespace */
  namespace?: string;
  /** -c/--container */
  container?: string;
}

export const REMOTE_SYNTAX = "[namespace/]pod[/container]:path";

// Kubernetes names: DNS-1123 subdomains for namespaces and pods, labels for containers.
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function defaultNamespace(flag?: string): string {
  return flag || process.env.PODFILES_NAMESPACE || "default";
}

/** True when `arg` looks like a remote path (has a colon after a pod name). */
export function isRemote(arg: string): boolean {
  const colon = arg.indexOf(":");
  return colon > 0 && !arg.slice(0, colon).includes("\\");
}

export function parseRemote(arg: string, defaults: TargetDefaults = {}): RemotePath {
  const colon = arg.indexOf(":");
  if (colon < 0) throw new UsageError(`"${arg}": not a remote path; expected ${REMOTE_SYNTAX} (e.g. web-0:/etc/hosts)`);
  const target = arg.slice(0, colon);
  let rawPath = arg.slice(colon + 1);
  const parts = target.split("/");
  const after = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?):(\/.*)$/s.exec(rawPath);
  if (after) {
    if (parts.length === 3) throw new UsageError(`"${arg}": the container is named twice (${parts[2]} and ${after[1]})`);
    if (parts.length === 1) parts.unshift(defaultNamespace(defaults.namespace));
    parts.push(after[1]!);
    rawPath = after[3]!;
  }
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new UsageError(`"${arg}": bad container address "${target}"; expected ${REMOTE_SYNTAX}`);
  }
  for (const p of parts) {
    if (!NAME.test(p)) throw new UsageError(`"${arg}": "${p}" is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')`);
  }
  let namespace = defaultNamespace(defaults.namespace);
  let pod: string;
  let container = defaults.container ?? "";
  if (parts.length === 1) [pod] = parts as [string];
  else if (parts.length === 2) [namespace, pod] = parts as [string, string];
  else {
    const named = parts[2]!;
    if (defaults.container && defaults.container !== named) {
      throw new UsageError(`"${arg}" names container ${named} but -c says ${defaults.container}`);
    }
    [namespace, pod, container] = parts as [string, string, string];
  }
  if (rawPath.includes("\0")) throw new UsageError(`"${arg}": the path contains a NUL byte`);
  return { container: { namespace, pod, container }, path: remoteAbsolute(rawPath) };
}

/** "" → "/", "a/b" → "/a/b"; keeps a trailing slash (it means "into this directory"). */
export function remoteAbsolute(path: string): string {
  if (path === "") return "/";
  const abs = path.startsWith("/") ? path : `/${path}`;
  return abs;
}

export function sameContainer(a: ContainerRefLike, b: ContainerRefLike): boolean {
  return a.namespace === b.namespace && a.pod === b.pod && a.container === b.container;
}

export function formatContainer(c: ContainerRefLike): string {
  return c.container ? `${c.namespace}/${c.pod}/${c.container}` : `${c.namespace}/${c.pod}`;
}

export function remoteBasename(path: string): string {
  return posix.basename(path.replace(/\/+$/, "")) || "";
}
