// A grouped bar chart of download throughput by chunk size, as plain SVG.
const LABELS = {
  "raw-h2": "raw node:http2 (baseline)",
  grpc: "podfiles gRPC, connect-node client",
  grpcjs: "podfiles gRPC, @grpc/grpc-js client",
  "connect-h1": "podfiles Connect binary, HTTP/1.1",
};
const COLORS = { "raw-h2": "#888888", grpc: "#1f77b4", grpcjs: "#2ca02c", "connect-h1": "#ff7f0e" };
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const chunkLabel = (b) => (b >= 1024 * 1024 ? `${b / 1024 / 1024} MiB` : `${b / 1024} KiB`);

/** sweep: { stack: { chunkSize: MiB/s } } */
export function chunkChart(sweep, chunkSizes, title) {
  const stacks = Object.keys(sweep);
  const W = 760;
  const H = 420;
  const m = { left: 64, right: 16, top: 48, bottom: 110 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const values = stacks.flatMap((s) => chunkSizes.map((c) => sweep[s][c])).filter(Number.isFinite);
  const rawMax = Math.max(100, ...values);
  const step = rawMax > 1500 ? 500 : rawMax > 600 ? 200 : rawMax > 250 ? 100 : 50;
  const yMax = Math.ceil(rawMax / step) * step;
  const y = (v) => m.top + ph - (v / yMax) * ph;
  const groupW = pw / chunkSizes.length;
  const barW = (groupW * 0.8) / stacks.length;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc("Download throughput by chunk size (MiB/s, higher is better)")}</text>`,
  );
  out.push(`<text x="${W / 2}" y="37" text-anchor="middle" fill="#555">${esc(title)}</text>`);
  for (let v = 0; v <= yMax; v += step) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">MiB/s</text>`);
  chunkSizes.forEach((c, gi) => {
    const gx = m.left + gi * groupW + groupW * 0.1;
    stacks.forEach((s, si) => {
      const v = sweep[s][c];
      const x = gx + si * barW;
      if (!Number.isFinite(v)) {
        out.push(`<text x="${x + barW / 2}" y="${y(0) - 4}" text-anchor="middle" fill="#c00">×</text>`);
        return;
      }
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${COLORS[s] ?? "#999"}"><title>${esc(`${LABELS[s] ?? s}, ${chunkLabel(c)}: ${v.toFixed(0)} MiB/s`)}</title></rect>`,
      );
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="10">${v.toFixed(0)}</text>`);
    });
    out.push(`<text x="${m.left + gi * groupW + groupW / 2}" y="${y(0) + 18}" text-anchor="middle">${chunkLabel(c)} chunks</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  stacks.forEach((s, i) => {
    const lx = m.left + (i % 2) * 330;
    const ly = H - m.bottom + 44 + Math.floor(i / 2) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[s] ?? "#999"}"/>`);
    out.push(`<text x="${lx + 18}" y="${ly}">${esc(LABELS[s] ?? s)}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
