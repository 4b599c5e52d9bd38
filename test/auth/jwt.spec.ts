// podfiles JWTs end to end on a real server: IssueToken with Basic
// credentials, then bearer calls; every way a token can be bad is UNAUTHENTICATED,
// a token outside its scope is PERMISSION_DENIED naming verb and resource.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import jwt from "jsonwebtoken";
import { createPublicKey } from "node:crypto";
import { hashPassword } from "../../src/auth/passwords.js";
import { parseClients } from "../../src/auth/clients.js";
import { basic, bearer, ecPem, hsSecret, key, rsaPem, startAuthServer, type AuthTestServer } from "./support.js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type UploadOptionsSchema, UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { FileClient, Ref } from "../support/files.js";
import { codeAndMessage as code } from "../support/status.js";

function uploadAll(
  client: FileClient,
  container: Ref,
  path: string,
  chunks: Uint8Array[],
  options: MessageInitShape<typeof UploadOptionsSchema>,
  callOptions: { headers: Record<string, string> },
) {
  async function* requests() {
    yield create(UploadRequestSchema, { part: { case: "header", value: { container, path, options } } });
    for (const value of chunks) yield create(UploadRequestSchema, { part: { case: "data", value } });
  }
  return client.upload(requests(), callOptions);
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("podfiles JWTs (HS256)", () => {
  const secret = hsSecret();
  const k1 = key("k1", secret);
  let s: AuthTestServer;
  let ref: AuthTestServer["container"];
  const claims = (extra: Record<string, unknown> = {}) => ({
    scopes: { namespaces: ["local"], pods: [], verbs: ["get", "create", "update", "delete"] },
    ...extra,
  });
  const sign = (payload: object, opts: jwt.SignOptions = {}, k: jwt.Secret = secret) => {
    const o: jwt.SignOptions = { algorithm: "HS256", keyid: "k1", issuer: "podfiles", audience: "podfiles", subject: "tester", expiresIn: 60, ...opts };
    if (o.expiresIn === undefined) delete o.expiresIn;
    return jwt.sign(payload, k, o);
  };

  beforeAll(async () => {
    const clients = parseClients(
      JSON.stringify({
        clients: [
          { name: "ci", passwordHash: await hashPassword("ci-password-1"), scope: { namespaces: ["local"], verbs: ["get", "create", "update", "delete"] } },
          {
            name: "reader",
            passwordHash: await hashPassword("reader-password"),
            scope: { namespaces: ["local"], pods: ["local"], verbs: ["get"] },
            maxTtlSeconds: 600,
          },
          { name: "elsewhere", passwordHash: await hashPassword("elsewhere-pw"), scope: { namespaces: ["other"], verbs: ["*"] } },
        ],
      }),
      "test",
    );
    s = await startAuthServer({ jwt: { keys: [k1], clients } });
    ref = s.container;
  });
  afterAll(() => s?.close());

  it("IssueToken: Basic credentials → a token with expiry (30 min default), iss, aud, sub, scopes; it works on every protocol", async () => {
    const res = await s.auth.issueToken({}, basic("ci", "ci-password-1"));
    expect(res.tokenType).toBe("Bearer");
    const payload = jwt.decode(res.token, { complete: true })!;
    const p = payload.payload as jwt.JwtPayload;
    expect(payload.header).toMatchObject({ alg: "HS256", kid: "k1" });
    expect(p).toMatchObject({
      iss: "podfiles",
      aud: "podfiles",
      sub: "ci",
      scopes: { namespaces: ["local"], pods: [], verbs: ["get", "create", "update", "delete"] },
    });
    expect(p.exp! - p.iat!).toBe(1800);
    expect(Number(res.expireTime!.seconds)).toBe(p.exp);
    for (const [name, c] of Object.entries(s.clients)) {
      const st = await c.stat({ container: ref, path: "/" }, bearer(res.token));
      expect(st.entry?.path, name).toBe("/");
    }
    const who = await s.auth.whoAmI({}, bearer(res.token));
    expect(who).toMatchObject({ name: "jwt:ci", kind: "jwt" });
  });

  it("IssueToken: wrong password and unknown client are UNAUTHENTICATED with the same message; no Basic at all too", async () => {
    const a = await code(s.auth.issueToken({}, basic("ci", "nope")));
    const b = await code(s.auth.issueToken({}, basic("ghost", "nope")));
    expect(a).toEqual([Code.Unauthenticated, "invalid client credentials"]);
    expect(b).toEqual(a);
    expect((await code(s.auth.issueToken({})))[0]).toBe(Code.Unauthenticated);
    expect((await code(s.auth.issueToken({}, bearer("x"))))[0]).toBe(Code.Unauthenticated);
  });

  it("IssueToken: ttl capped by the client's maximum; a narrower scope may be asked, a wider one is PERMISSION_DENIED", async () => {
    const r = await s.auth.issueToken({ ttlSeconds: 99999 }, basic("reader", "reader-password"));
    const p = jwt.decode(r.token) as jwt.JwtPayload;
    expect(p.exp! - p.iat!).toBe(600);
    const narrow = await s.auth.issueToken({ scope: { namespaces: ["local"], verbs: ["get"] } }, basic("ci", "ci-password-1"));
    expect((jwt.decode(narrow.token) as jwt.JwtPayload).scopes).toEqual({ namespaces: ["local"], pods: [], verbs: ["get"] });
    const [c, msg] = await code(s.auth.issueToken({ scope: { namespaces: ["kube-system"], verbs: ["get"] } }, basic("ci", "ci-password-1")));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/beyond its own scope/);
    // a read-only token cannot write
    const [w, wmsg] = await code(s.clients.connectJson.makeDirectory({ container: ref, path: "/ro" }, bearer(narrow.token)));
    expect(w).toBe(Code.PermissionDenied);
    expect(wmsg).toContain('cannot create resource "containerfiles" in API group "podfiles.io" for pod "local" in the namespace "local"');
  });

  it("no token → UNAUTHENTICATED", async () => {
    const [c, msg] = await code(s.clients.grpc.stat({ container: ref, path: "/" }));
    expect(c).toBe(Code.Unauthenticated);
    expect(msg).toMatch(/Bearer/);
  });

  it("malformed tokens and headers → UNAUTHENTICATED", async () => {
    for (const h of ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer", "Token abc", "Basic Y2k6Y2ktcGFzc3dvcmQtMQ==", `Bearer ${sign(claims())}x`]) {
      const [c] = await code(s.clients.connectJson.stat({ container: ref, path: "/" }, { headers: { authorization: h } }));
      expect(c, h).toBe(Code.Unauthenticated);
    }
  });

  it("wrong signature → UNAUTHENTICATED", async () => {
    const forged = sign(claims(), {}, hsSecret());
    const [c, msg] = await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer(forged)));
    expect([c, msg]).toEqual([Code.Unauthenticated, "invalid token: invalid signature"]);
  });

  it("alg: none → UNAUTHENTICATED (with and without a kid)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = b64url({ iss: "podfiles", aud: "podfiles", sub: "tester", iat: now, exp: now + 60, ...claims() });
    for (const header of [
      { alg: "none", typ: "JWT", kid: "k1" },
      { alg: "none", typ: "JWT" },
    ]) {
      for (const tail of ["", sign(claims()).split(".")[2]]) {
        const token = `${b64url(header)}.${body}.${tail}`;
        const [c] = await code(s.clients.grpcWeb.stat({ container: ref, path: "/" }, bearer(token)));
        expect(c).toBe(Code.Unauthenticated);
      }
    }
  });

  it("expired → UNAUTHENTICATED", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = sign({ ...claims(), iat: now - 7200, exp: now - 3600 }, { expiresIn: undefined });
    const [c, msg] = await code(s.clients.connectH2.stat({ container: ref, path: "/" }, bearer(token)));
    expect([c, msg]).toEqual([Code.Unauthenticated, "invalid token: jwt expired"]);
  });

  it("a token without exp → UNAUTHENTICATED", async () => {
    const token = sign(claims(), { expiresIn: undefined });
    expect(await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer(token)))).toEqual([Code.Unauthenticated, "invalid token: no expiry (exp)"]);
  });

  it("wrong audience and wrong issuer → UNAUTHENTICATED", async () => {
    const [c, msg] = await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer(sign(claims(), { audience: "someone-else" }))));
    expect(c).toBe(Code.Unauthenticated);
    expect(msg).toMatch(/audience invalid/);
    const [c2, msg2] = await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer(sign(claims(), { issuer: "evil" }))));
    expect(c2).toBe(Code.Unauthenticated);
    expect(msg2).toMatch(/issuer invalid/);
  });

  it("a scope for another namespace → PERMISSION_DENIED naming the verb and resource", async () => {
    const { token } = await s.auth.issueToken({}, basic("elsewhere", "elsewhere-pw"));
    const [c, msg] = await code(s.clients.grpc.stat({ container: ref, path: "/etc" }, bearer(token)));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toBe(
      'jwt:elsewhere cannot get resource "containerfiles" in API group "podfiles.io" for pod "local" in the namespace "local" (path /etc): not in the token\'s scope',
    );
    // a scope for another pod in the right namespace
    const other = sign({ scopes: { namespaces: ["local"], pods: ["web-0"], verbs: ["get"] } });
    expect((await code(s.clients.connectJson.stat({ container: ref, path: "/" }, bearer(other))))[0]).toBe(Code.PermissionDenied);
  });

  it("uploads: streaming and chunked with a token; overwrite needs update; audit lines record who, what, container, path, bytes, result", async () => {
    const { token } = await s.auth.issueToken({}, basic("ci", "ci-password-1"));
    const data = Buffer.from("hello podfiles\n");
    const up = await uploadAll(s.clients.grpc, ref, "/hello.txt", [data], {}, bearer(token));
    expect(up.bytesReceived).toBe(BigInt(data.length));

    const begin = await s.clients.connectJson.beginUpload({ container: ref, path: "/chunked.txt" }, bearer(token));
    await s.clients.connectJson.writeUploadChunk({ container: ref, path: "/chunked.txt", uploadId: begin.uploadId, offset: 0n, data }, bearer(token));
    await s.clients.connectJson.commitUpload({ container: ref, path: "/chunked.txt", uploadId: begin.uploadId }, bearer(token));

    const createOnly = sign({ scopes: { namespaces: ["local"], verbs: ["create"] } });
    const [c, msg] = await code(uploadAll(s.clients.grpc, ref, "/hello.txt", [data], { overwrite: 2 }, bearer(createOnly)));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/cannot update resource "containerfiles"/);

    const lines = s.audit;
    expect(lines).toContainEqual(
      expect.objectContaining({
        who: "jwt:ci",
        method: "podfiles.v1.FileService/Upload",
        container: "local/local/local",
        path: "/hello.txt",
        bytes: BigInt(data.length),
        result: "ok",
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ who: "jwt:ci", method: "podfiles.v1.FileService/CommitUpload", path: "/chunked.txt", result: "ok" }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ who: "jwt:tester", method: "podfiles.v1.FileService/Upload", verbs: ["update"], result: "denied", code: "PermissionDenied" }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ who: "unauthenticated", method: "podfiles.v1.FileService/Stat", result: "denied", code: "Unauthenticated", peer: "127.0.0.1" }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ who: "jwt:ci", method: "podfiles.v1.AuthService/IssueToken", result: "ok" }));
    // reads that succeed are not audited (the call log has them)
    expect(lines.filter((l) => l.method === "podfiles.v1.FileService/Stat" && l.result === "ok")).toEqual([]);
  });

  it("Rename needs update on the source and create on the target", async () => {
    const { token } = await s.auth.issueToken({}, basic("ci", "ci-password-1"));
    await s.clients.grpc.makeDirectory({ container: ref, path: "/r" }, bearer(token));
    const updateOnly = sign({ scopes: { namespaces: ["local"], verbs: ["update"] } });
    const [c, msg] = await code(s.clients.grpc.rename({ container: ref, path: "/r", newPath: "/r2" }, bearer(updateOnly)));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/cannot create resource "containerfiles" .* \(path \/r2\)/);
    const both = sign({ scopes: { namespaces: ["local"], verbs: ["update", "create"] } });
    const r = await s.clients.grpc.rename({ container: ref, path: "/r", newPath: "/r2" }, bearer(both));
    expect(r.entry?.path).toBe("/r2");
    expect(s.audit).toContainEqual(
      expect.objectContaining({ method: "podfiles.v1.FileService/Rename", path: "/r", new_path: "/r2", verbs: ["update", "create"], result: "ok" }),
    );
  });
});

describe("podfiles JWTs: key rotation and algorithms", () => {
  it("RS256 with kid rotation: the old key verifies while configured, a rotated-out key is UNAUTHENTICATED", async () => {
    const oldPem = rsaPem();
    const newPem = ecPem();
    const oldKey = key("2024-01", oldPem);
    const newKey = key("2024-02", newPem);
    const oldPublic = key("2024-01", createPublicKey(oldPem).export({ type: "spki", format: "pem" }) as string);
    const scopes = { namespaces: ["*"], verbs: ["*"] };
    const oldToken = jwt.sign({ scopes }, oldPem, {
      algorithm: "RS256",
      keyid: "2024-01",
      issuer: "podfiles",
      audience: "podfiles",
      subject: "old",
      expiresIn: 60,
    });

    // during rotation: new key signs, old public key still verifies
    const during = await startAuthServer({ jwt: { keys: [newKey, oldPublic] } });
    try {
      expect((await during.clients.grpc.stat({ container: during.container, path: "/" }, bearer(oldToken))).entry?.path).toBe("/");
      // the RS256 public key used as an HS256 secret (algorithm confusion) is refused
      const pub = createPublicKey(oldPem).export({ type: "spki", format: "pem" }) as string;
      const confused = `${b64url({ alg: "HS256", typ: "JWT", kid: "2024-01" })}.${b64url({ iss: "podfiles", aud: "podfiles", sub: "x", exp: Math.floor(Date.now() / 1000) + 60, scopes })}`;
      const { createHmac } = await import("node:crypto");
      const sig = createHmac("sha256", pub).update(confused).digest("base64url");
      expect(await code(during.clients.grpc.stat({ container: during.container, path: "/" }, bearer(`${confused}.${sig}`)))).toEqual([
        Code.Unauthenticated,
        'invalid token: algorithm "HS256" is not the algorithm of key "2024-01" (RS256)',
      ]);
    } finally {
      await during.close();
    }

    // after rotation: only the new key
    const after = await startAuthServer({ jwt: { keys: [newKey] } });
    try {
      expect(await code(after.clients.grpc.stat({ container: after.container, path: "/" }, bearer(oldToken)))).toEqual([
        Code.Unauthenticated,
        'invalid token: unknown key id "2024-01" (not configured, or rotated out)',
      ]);
      const newToken = jwt.sign({ scopes }, newPem, {
        algorithm: "ES256",
        keyid: "2024-02",
        issuer: "podfiles",
        audience: "podfiles",
        subject: "new",
        expiresIn: 60,
      });
      expect((await after.clients.grpc.stat({ container: after.container, path: "/" }, bearer(newToken))).entry?.path).toBe("/");
      // a token with the same kid but signed by another key: wrong signature
      const imposter = jwt.sign({ scopes }, ecPem(), {
        algorithm: "ES256",
        keyid: "2024-02",
        issuer: "podfiles",
        audience: "podfiles",
        subject: "x",
        expiresIn: 60,
      });
      expect((await code(after.clients.grpc.stat({ container: after.container, path: "/" }, bearer(imposter))))[0]).toBe(Code.Unauthenticated);
      void oldKey;
    } finally {
      await after.close();
    }
  });

  it("JWT mode refuses to start without a key, with a public-only first key, or with a short HS256 secret", async () => {
    const { createAuth } = await import("../../src/auth/index.js");
    expect(() => createAuth({ jwt: { keys: [] } })).toThrow(/needs a key.*no built-in key/);
    const pub = createPublicKey(rsaPem()).export({ type: "spki", format: "pem" }) as string;
    expect(() => createAuth({ jwt: { keys: [key("p", pub)] } })).toThrow(/first key signs/);
    expect(() => key("short", "too-short")).toThrow(/at least 32 bytes/);
    expect(() => createAuth({})).toThrow(/configure/);
  });
});
