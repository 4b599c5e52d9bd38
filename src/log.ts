// Structured logs: one JSON object per line.
export interface Logger {
  info(fields: Record<string, unknown>): void;
  warn(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));

export function jsonLogger(out: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: string) => (fields: Record<string, unknown>) => {
    out.write(json({ time: new Date().toISOString(), level, ...fields }) + "\n");
  };
  return { info: line("info"), warn: line("warn"), error: line("error") };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
