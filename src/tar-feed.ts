// Feeding a tar stream into tar-stream's extractor, on the agent (src/fs/root/tar-extract.ts) and on
// the client (src/client/tar.ts). A leaf: node built-ins only, any layer may import it.
//
// What this guarantees: the input is written with backpressure (a write the extractor refuses waits
// for its "drain"), and the feed always ends: an extractor destroyed by the extraction loop (a member
// failed) never drains, so its "close" ends the wait too, and the feed then rejects instead of
// waiting forever. On the client such a wait left the extraction's promise unsettled and the process
// exited with nothing said (test/sdk/tar.spec.ts). A failing input destroys the extractor with its
// error. Out of scope: what the extractor does with the bytes.

/** The part of tar-stream's Extract the feed uses. */
export interface TarSink {
  readonly destroyed: boolean;
  write(chunk: Uint8Array): boolean;
  end(): void;
  destroy(err?: Error): void;
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Writes `input` into `extract` and ends it; rejects once the extractor is destroyed or the input fails. */
export async function feedTar(input: AsyncIterable<Uint8Array>, extract: TarSink): Promise<void> {
  try {
    for await (const chunk of input) {
      if (extract.destroyed) throw new Error("tar extraction stopped");
      if (!extract.write(chunk)) await drainOrClose(extract);
    }
    extract.end();
  } catch (err) {
    extract.destroy(err as Error);
    throw err;
  }
}

/** Waits for room in the extractor; a destroyed extractor never drains, so its close ends the wait too. */
function drainOrClose(extract: TarSink): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      extract.off("drain", done);
      extract.off("close", done);
      resolve();
    };
    extract.on("drain", done);
    extract.on("close", done);
  });
}
