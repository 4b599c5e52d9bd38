// What every call names: a path in a container. A bare string is a path in the client's default
// container; an object names its own.
import type { ContainerRef as ContainerRefMessage } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "./errors.js";

/** namespace / pod / container ("" = the pod's default container) */
export interface ContainerRef {
  namespace: string;
  pod: string;
  container?: string;
}

export type Target = string | { container?: ContainerRef; path: string };

export interface ResolvedTarget {
  container: Pick<ContainerRefMessage, "namespace" | "pod" | "container">;
  path: string;
}

export function resolveTarget(target: Target, fallback: ContainerRef | undefined): ResolvedTarget {
  const { container, path } = typeof target === "string" ? { container: undefined, path: target } : target;
  const c = container ?? fallback;
  if (!c) throw invalidArgument(`${path}: no container named (pass { container, path } or set the client's container)`);
  if (typeof path !== "string" || path === "") throw invalidArgument("a path is required");
  return { container: { namespace: c.namespace, pod: c.pod, container: c.container ?? "" }, path };
}
