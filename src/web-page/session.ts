// Who the page is: a bearer token kept in memory (or, if asked, in this tab's sessionStorage —
// never in a URL or a cookie), the SDK's browser client built with it, and the sign-in calls
// (AuthService over the same Connect-Web transport).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { createPodfilesWebClient, type ContainerRef, type PodfilesWebClient } from "../web.js";
import { WorkerSha256 } from "./worker-sha256.js";

const TOKEN_KEY = "podfiles.token";

/**
 * Chromium sends a request body given as a Blob several times faster than the same bytes given as
 * an ArrayBuffer (measured here, 4 MiB POSTs to a bare node:http sink: 44–66 MiB/s vs 6–10 MiB/s;
 * the ArrayBuffer goes through the renderer's data pipe). Upload chunks are such bodies.
 */
const BLOB_BODY_MIN = 64 * 1024;
const fetchWithBlobBodies: typeof fetch = (input, init) =>
  init?.body instanceof Uint8Array && init.body.byteLength >= BLOB_BODY_MIN
    ? fetch(input, { ...init, body: new Blob([init.body as Uint8Array<ArrayBuffer>]) })
    : fetch(input, init);
/** the page talks to the server that served it: same origin, so no CORS is needed */
const baseUrl = location.origin;

export class Session {
  private token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined;

  get signedIn(): boolean {
    return this.token !== undefined;
  }

  setToken(token: string, remember: boolean): void {
    this.token = token.trim();
    if (remember) sessionStorage.setItem(TOKEN_KEY, this.token);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  signOut(): void {
    this.token = undefined;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  client(container: ContainerRef): PodfilesWebClient {
    return createPodfilesWebClient({ baseUrl, token: this.token, container, fetch: fetchWithBlobBodies, streamSha256: WorkerSha256.create });
  }

  private auth(authorization?: string) {
    const transport = createConnectTransport({
      baseUrl,
      useBinaryFormat: true,
      interceptors: [(next) => (req) => (authorization && req.header.set("authorization", authorization), next(req))],
    });
    return createClient(AuthService, transport);
  }

  /** Basic credentials → a podfiles JWT (AuthService/IssueToken). */
  async issueToken(client: string, password: string): Promise<string> {
    const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${client}:${password}`)));
    const res = await this.auth(`Basic ${basic}`).issueToken({});
    return res.token;
  }

  /** The name the server knows the caller by (undefined when the server has no AuthService: no auth). */
  async whoAmI(): Promise<string | undefined> {
    if (!this.token) return undefined;
    const res = await this.auth(`Bearer ${this.token}`).whoAmI({});
    return res.name;
  }
}
