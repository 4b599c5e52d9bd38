// A STAND-IN for the API server's pods/portforward endpoint, for the framing and backpressure unit
// specs of src/client/portforward-socket.ts only (the real API server is exercised by
// test/e2e/kubeconfig.spec.ts): a `ws` server on loopback that speaks the kubelet's
// `v4.channel.k8s.io` port-forward protocol — the port preamble on channels 0 and 1, data on
// channel 0 — and relays each WebSocket to a TCP target, or lets a test drive the socket itself.
// It honours backpressure the way the kubelet's relay does (a TCP read waits for the WebSocket's
// flush), so what a paused client receives is bounded by buffers, not by what the target has.
import net from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { PORT_FORWARD_PROTOCOL } from "../../src/client/portforward-socket.js";

export interface StandIn {
  url: string;
  /** the server side of every connection so far */
  sockets: WebSocket[];
  close(): Promise<void>;
}

export function portPreamble(port: number): Buffer[] {
  const p = [port & 0xff, port >> 8];
  return [Buffer.from([0, ...p]), Buffer.from([1, ...p])];
}

/**
 * target: a TCP port on 127.0.0.1 to relay to; or a function that gets each server-side WebSocket
 * (after the preamble) and drives it.
 */
export async function startPortForwardStandIn(target: number | ((ws: WebSocket) => void), port = 8080): Promise<StandIn> {
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols) => (protocols.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false),
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const sockets: WebSocket[] = [];
  wss.on("connection", (ws) => {
    sockets.push(ws);
    for (const b of portPreamble(port)) ws.send(b);
    if (typeof target === "function") return target(ws);
    const tcp = net.connect(target, "127.0.0.1");
    tcp.on("data", (d: Buffer) => {
      ws.send(Buffer.concat([Buffer.from([0]), d]), () => tcp.resume());
      if (ws.bufferedAmount > 256 * 1024) tcp.pause();
    });
    ws.on("message", (m: Buffer) => {
      if (m[0] === 0 && !tcp.write(m.subarray(1))) {
        ws.pause();
        tcp.once("drain", () => ws.resume());
      }
    });
    tcp.on("close", () => ws.close(1000));
    tcp.on("error", () => ws.close(1011));
    ws.on("close", () => tcp.destroy());
  });
  const { port: p } = wss.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${p}/api/v1/namespaces/podfiles/pods/agent/portforward?ports=${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
