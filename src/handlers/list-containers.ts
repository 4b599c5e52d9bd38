// ListContainers: the containers the resolver can serve (local mode: the one container; the
// agent: the pods of every node, page by page), keeping only the pods the caller may read (the
// same `get` check as ListFiles, per pod, through HandlerDeps.call.mayRead), streamed one message
// per page. The rule (src/auth/rules.ts) asks only for an identity: this filter is the RBAC.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  ContainerInfoSchema,
  ListContainersResponseSchema,
  type ListContainersRequest,
  type ListContainersResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { failedPrecondition, invalidArgument } from "../errors.js";
import type { ContainerListing } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";

/** A Kubernetes namespace name (RFC 1123 label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function listContainers(deps: HandlerDeps) {
  return async function* (req: ListContainersRequest, ctx: HandlerContext): AsyncGenerator<ListContainersResponse> {
    if (req.namespace && !NAMESPACE.test(req.namespace)) {
      throw invalidArgument(`namespace ${JSON.stringify(req.namespace.slice(0, 100))}: not a namespace name (lower-case letters, digits and '-', at most 63)`);
    }
    const list = deps.resolver.listContainers?.bind(deps.resolver);
    if (!list) throw failedPrecondition("this server cannot list its containers (its resolver has no list): name the container");
    const mayRead = deps.call.mayRead(ctx);
    for await (const page of list({ namespace: req.namespace }, ctx.signal)) {
      const allowed = await readable(page, mayRead);
      if (allowed.length === 0) continue;
      yield create(ListContainersResponseSchema, { containers: allowed.map((c) => create(ContainerInfoSchema, c)) });
    }
  };
}

/** The listings of the pods the caller may read (one check per pod, not per container). */
async function readable(page: ContainerListing[], mayRead: (namespace: string, pod: string) => Promise<boolean>): Promise<ContainerListing[]> {
  const verdicts = new Map<string, Promise<boolean>>();
  const key = (c: ContainerListing) => `${c.namespace}/${c.pod}`;
  for (const c of page) if (!verdicts.has(key(c))) verdicts.set(key(c), mayRead(c.namespace, c.pod));
  const allowed = new Set<string>();
  await Promise.all([...verdicts].map(async ([k, v]) => (await v) && allowed.add(k)));
  return page.filter((c) => allowed.has(key(c)));
}
