// Writing a stream of results to stdout at the reader's pace: waits for 'drain' when the pipe is
// full, and reports a reader that went away (EPIPE: `podfiles find … | head`) as false, so the
// command can cancel its call and end quietly instead of dying on an unhandled 'error'.
const broken = new WeakMap<NodeJS.WritableStream, { broken: boolean; wake?: () => void }>();

function stateOf(out: NodeJS.WritableStream) {
  let s = broken.get(out);
  if (!s) {
    const state: { broken: boolean; wake?: () => void } = { broken: false };
    out.on("error", () => {
      state.broken = true;
      state.wake?.();
    });
    broken.set(out, state);
    s = state;
  }
  return s;
}

export async function writeOut(out: NodeJS.WritableStream, data: string | Uint8Array): Promise<boolean> {
  const s = stateOf(out);
  if (s.broken || (out as { destroyed?: boolean }).destroyed) return false;
  if (out.write(data)) return !s.broken;
  await new Promise<void>((resolve) => {
    s.wake = resolve;
    out.once("drain", resolve);
  });
  s.wake = undefined;
  return !s.broken;
}
