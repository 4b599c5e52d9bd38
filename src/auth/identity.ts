// Who is calling. The auth interceptor sets it; without auth (the loopback
// demo) every call is "anonymous".
import { createContextKey, type HandlerContext } from "@connectrpc/connect";

export interface Identity {
  /** Stable name, e.g. "system:serviceaccount:ns:sa", "jwt:alice" or "anonymous". */
  name: string;
}

export const anonymous: Identity = { name: "anonymous" };

export const identityKey = createContextKey<Identity>(anonymous, { description: "podfiles caller identity" });

export const identityOf = (ctx: HandlerContext): Identity => ctx.values.get(identityKey);
