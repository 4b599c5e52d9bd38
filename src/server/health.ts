// grpc.health.v1: Check, Watch and List. The server reports SERVING for ""
// and every registered service until shutdown begins.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { once } from "node:events";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthListResponseSchema,
} from "../../gen/ts/third_party/health/v1/health_pb.js";

export class HealthState {
  private serving = true;
  readonly changes = new EventTarget();

  constructor(readonly services: string[]) {}

  status(service: string): Status | undefined {
    if (service !== "" && !this.services.includes(service)) return undefined;
    return this.serving ? Status.SERVING : Status.NOT_SERVING;
  }

  /** Called when shutdown begins, so load balancers stop sending calls. */
  setNotServing(): void {
    this.serving = false;
    this.changes.dispatchEvent(new Event("change"));
  }
}

export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, {
    check(req) {
      const status = state.status(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx) {
      for (;;) {
        yield create(HealthCheckResponseSchema, { status: state.status(req.service) ?? Status.SERVICE_UNKNOWN });
        await once(state.changes, "change", { signal: ctx.signal });
      }
    },
    list() {
      const statuses: Record<string, { status: Status }> = {};
      for (const name of ["", ...state.services]) statuses[name] = create(HealthCheckResponseSchema, { status: state.status(name)! });
      return create(HealthListResponseSchema, { statuses });
    },
  });
}
