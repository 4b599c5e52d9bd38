// Which permission each RPC needs: verbs on containerfiles.podfiles.io for the
// pod the request names. A method with no rule here is refused (fail closed).
//
//   ListFiles, Stat, Download                    get
//   Upload, BeginUpload                          create (overwrite / append: update)
//   WriteUploadChunk, QueryUpload,
//   CommitUpload, AbortUpload                    create or update (the upload is
//                                                also bound to the identity that began it)
//   MakeDirectory                                create
//   Remove                                       delete
//   Rename                                       update on the source and create on the target
//   Find, DiskUsage, Tail                        get
//   Copy                                         get on the source, and create (overwrite:
//                                                update) on the destination pod
//   ListContainers                               an identity; the handler lists only the
//                                                pods the caller may get
import { FileService, OverwritePolicy, type UploadOptions } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";
import { containerName, type ContainerName } from "../resolve/resolver.js";
import type { Verb } from "./scope.js";

/** One permission: any of `verbs` on the pod suffices. */
export interface Check {
  verbs: Verb[];
  target: ContainerName;
  path: string;
}

export interface Rule {
  /** Mutating calls get an audit line whatever their result. */
  mutating: boolean;
  /** The permissions the request needs (all of them). */
  checks(message: unknown): Check[];
}

export const methodKey = (service: string, method: string) => `${service}/${method}`;

interface Targeted {
  container?: Parameters<typeof containerName>[0];
  path: string;
}

const on = (verbs: Verb[], m: Targeted, path = m.path): Check => ({ verbs, target: containerName(m.container), path });
const writeVerb = (o: UploadOptions | undefined): Verb =>
  o?.overwrite === OverwritePolicy.OVERWRITE || o?.overwrite === OverwritePolicy.APPEND ? "update" : "create";

const read: Rule = { mutating: false, checks: (m) => [on(["get"], m as Targeted)] };
const session: Rule = { mutating: true, checks: (m) => [on(["create", "update"], m as Targeted)] };

const fileServiceRules: Record<string, Rule> = {
  ListFiles: read,
  Stat: read,
  Download: read,
  Upload: {
    mutating: true,
    checks(m) {
      const part = (m as { part?: { case?: string; value?: unknown } }).part;
      if (part?.case !== "header") throw invalidArgument("the first Upload message must be the header");
      const h = part.value as Targeted & { options?: UploadOptions };
      return [on([writeVerb(h.options)], h)];
    },
  },
  BeginUpload: { mutating: true, checks: (m) => [on([writeVerb((m as { options?: UploadOptions }).options)], m as Targeted)] },
  WriteUploadChunk: session,
  QueryUpload: { mutating: false, checks: session.checks },
  CommitUpload: session,
  AbortUpload: session,
  MakeDirectory: { mutating: true, checks: (m) => [on(["create"], m as Targeted)] },
  Remove: { mutating: true, checks: (m) => [on(["delete"], m as Targeted)] },
  Rename: {
    mutating: true,
    checks(m) {
      const r = m as Targeted & { newPath: string };
      return [on(["update"], r), on(["create"], r, r.newPath)];
    },
  },
  Find: read,
  DiskUsage: read,
  Tail: read,
  Copy: {
    mutating: true,
    checks(m) {
      const c = m as Targeted & { destination?: Targeted["container"]; destinationPath: string; options?: UploadOptions };
      return [on(["get"], c), on([writeVerb(c.options)], { container: c.destination, path: c.destinationPath })];
    },
  },
};

export const defaultRules: Record<string, Rule> = Object.fromEntries(
  Object.entries(fileServiceRules).map(([name, rule]) => [methodKey(FileService.typeName, name), rule]),
);

/** Methods anyone may call: health, reflection, and the token exchange (which checks Basic credentials itself). */
export const OPEN_SERVICES = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];
export const OPEN_METHODS = ["podfiles.v1.AuthService/IssueToken"];
/** Methods that need an identity but no permission. */
export const AUTHENTICATED_ONLY = ["podfiles.v1.AuthService/WhoAmI", "podfiles.v1.FileService/ListContainers"];
