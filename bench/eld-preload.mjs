// Preloaded into the server by the bench (node --import): keeps a histogram of
// event-loop delay; on SIGUSR2 writes {p50,p99,max,mean} in ms to
// $PODFILES_BENCH_ELD and starts a new histogram. Touches nothing else.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { writeFileSync } from "node:fs";

const file = process.env.PODFILES_BENCH_ELD;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.on("SIGUSR2", () => {
    const ms = (ns) => Number((ns / 1e6).toFixed(2));
    writeFileSync(file, JSON.stringify({ p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean), count: h.count }));
    h.reset();
  });
}
