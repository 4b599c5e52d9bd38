// Interceptors every call passes through: the call log line and the one place
// where errors become gRPC/Connect statuses.
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { toConnectError } from "../errors.js";
import type { Logger } from "../log.js";
import { callInfoKey, newCallInfo, type CallInfo } from "./call-info.js";

type AnyResponse = UnaryResponse | StreamResponse;

/** One log line per call: method, container, path, bytes, duration, status. */
export function callLog(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const info: CallInfo = newCallInfo();
    req.contextValues.set(callInfoKey, info);
    const started = performance.now();
    const done = (err?: unknown) => {
      const status = err === undefined ? "ok" : Code[ConnectError.from(err).code];
      const fields = {
        msg: "call",
        method: `${req.service.typeName}/${req.method.name}`,
        protocol: req.header.get("content-type") ?? "",
        caller: info.caller,
        container: info.container,
        path: info.path,
        bytes: info.bytes,
        ms: Math.round(performance.now() - started),
        status,
        ...(err === undefined ? {} : { error: ConnectError.from(err).rawMessage }),
      };
      (err === undefined || status === "Canceled" ? logger.info : logger.warn)(fields);
    };
    let res: AnyResponse;
    try {
      res = await next(req);
    } catch (err) {
      done(err);
      throw err;
    }
    if (!res.stream) {
      done();
      return res;
    }
    return { ...res, message: observe(res.message, done, req.signal) };
  };
}

async function* observe<T>(messages: AsyncIterable<T>, done: (err?: unknown) => void, signal: AbortSignal): AsyncGenerator<T> {
  let failed = false;
  try {
    yield* messages;
  } catch (err) {
    failed = true;
    done(err);
    throw err;
  } finally {
    // Ending early without an error means the client went away.
    if (!failed) done(signal.aborted ? new ConnectError("client went away", Code.Canceled) : undefined);
  }
}

/** Maps FileServiceErrors and errno errors to statuses, naming the request path. */
export function errorStatus(): Interceptor {
  return (next) => async (req) => {
    const path = () => req.contextValues.get(callInfoKey)?.path;
    let res: AnyResponse;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, path());
    }
    if (!res.stream) return res;
    return { ...res, message: mapErrors(res.message, path) };
  };
}

async function* mapErrors<T>(messages: AsyncIterable<T>, path: () => string | undefined): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err, path());
  }
}
