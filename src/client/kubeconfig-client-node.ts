// A kubeconfig user with an `auth-provider` (OIDC, and the old gcp/azure providers): client-node's
// KubeConfig does the refreshing. Loaded only for such users (client-node costs ~1.2 s of CPU to load).
import type https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { invalidArgument } from "./errors.js";
import type { KubeCredentials, LoadedKubeconfig } from "./kubeconfig.js";

export function loadWithClientNode(o: { kubeconfig?: string; context?: string }): LoadedKubeconfig {
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  if (o.context) kc.setCurrentContext(o.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw invalidArgument(`kubeconfig context ${kc.getCurrentContext()} names no cluster`);
  return {
    server: new URL(cluster.server),
    contextName: kc.getCurrentContext(),
    namespace: kc.getContextObject(kc.getCurrentContext())?.namespace || undefined,
    async credentials(): Promise<KubeCredentials> {
      const opts: https.RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      const auth = (opts.headers as Record<string, string | undefined>).Authorization;
      const buf = (v: unknown) => (v ? Buffer.from(v as string | Buffer) : undefined);
      return {
        ca: buf(opts.ca),
        cert: buf(opts.cert),
        key: buf(opts.key),
        rejectUnauthorized: opts.rejectUnauthorized !== false,
        servername: opts.servername ?? undefined,
        authorization: auth?.startsWith("Bearer ") ? auth : undefined,
      };
    },
  };
}
