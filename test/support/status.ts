// A call's outcome as tests compare it: the status code (or OK) of a promise that may reject.
import { Code, ConnectError } from "@connectrpc/connect";

/** "OK", or the name of the status code the call failed with ("NotFound", "ResourceExhausted", …). */
export const codeName = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "OK",
    (e) => Code[ConnectError.from(e).code],
  );

/** ["ok", ""], or the status code and raw message the call failed with. */
export async function codeAndMessage(p: Promise<unknown>): Promise<[Code | "ok", string]> {
  try {
    await p;
    return ["ok", ""];
  } catch (err) {
    const e = ConnectError.from(err);
    return [e.code, e.rawMessage];
  }
}
