// Incremental CRC-32 (IEEE 802.3, as zlib, gzip and the server compute it; 4 bytes big-endian)
// for the browser build, which has no zlib. Node uses zlib.crc32 (node-client.ts).
import type { Hasher } from "./hasher.js";

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export class Crc32 implements Hasher {
  private crc = 0xffffffff;

  update(data: Uint8Array): this {
    let c = this.crc;
    for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    this.crc = c;
    return this;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, (this.crc ^ 0xffffffff) >>> 0);
    return out;
  }
}
