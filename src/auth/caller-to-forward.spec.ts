// callerCredentials: what a Copy's source agent tells the destination's agent about a caller that
// came without an Authorization header (a TLS client certificate user, or a user another agent
// asserted): that user and groups as an identity assertion, exact; nothing for anyone else.
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { parseForwardedIdentity } from "../server/forward/forwarded-identity.js";
import { callerCredentials } from "./caller-to-forward.js";
import { identityKey, type Identity } from "./identity.js";

const ctxOf = (id?: Identity) =>
  createHandlerContext({
    service: FileService,
    method: FileService.method.copy,
    protocolName: "grpc",
    requestMethod: "POST",
    url: "http://x/podfiles.v1.FileService/Copy",
    contextValues: id ? createContextValues().set(identityKey, id) : createContextValues(),
  });

describe("callerCredentials", () => {
  it("a Kubernetes user (a certificate's CN and O): asserted exactly, commas and non-ASCII included", () => {
    const headers = callerCredentials(
      ctxOf({ name: "ålice,x", kind: "kubernetes", user: { username: "ålice,x", groups: ["team a", "system:authenticated"] } }),
    );
    expect(parseForwardedIdentity((n) => headers[n] ?? null)).toEqual({ user: "ålice,x", groups: ["team a", "system:authenticated"] });
  });
  it("anonymous and JWT callers: nothing (a JWT travels in its own Authorization header)", () => {
    expect(callerCredentials(ctxOf())).toEqual({});
    expect(callerCredentials(ctxOf({ name: "jwt:bob", kind: "jwt", scope: [] as never }))).toEqual({});
  });
});
