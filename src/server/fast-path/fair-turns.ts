// Turns of the event loop shared fairly between bulk transfers. Hashing and framing a 1 MiB chunk
// takes ~0.7 ms on the event loop; when 32 downloads' reads complete together, their work ran in
// one turn (tens of ms) and a small call (a Stat) arriving meanwhile waited for all of it. A
// transfer awaits its turn before each chunk: one waiter is released per setImmediate, and an
// immediate scheduled from an immediate runs in the next loop iteration, so socket and file I/O
// (the small calls) are polled between any two chunks.
const waiting: (() => void)[] = [];
let scheduled = false;

function releaseOne(): void {
  const next = waiting.shift();
  if (waiting.length > 0) setImmediate(releaseOne);
  else scheduled = false;
  next?.();
}

/** Resolves in a later event-loop turn, after the transfers that asked before. */
export function nextFairTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!scheduled) {
      scheduled = true;
      setImmediate(releaseOne);
    }
  });
}
