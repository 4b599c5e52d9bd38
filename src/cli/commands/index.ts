// The client commands: podfiles ls | stat | get | put | mv | rm | mkdir | cp | cat | find | du | tail | sync against a podfiles server.
import type { Command } from "commander";
import { registerCat } from "./cat.js";
import { registerComplete } from "./complete.js";
import { registerCompletion } from "./completion.js";
import { registerCp } from "./cp.js";
import { registerDu } from "./du.js";
import { registerFind } from "./find.js";
import { registerGet } from "./get.js";
import { registerLs } from "./ls.js";
import { registerMkdir } from "./mkdir.js";
import { registerMv } from "./mv.js";
import { registerPut } from "./put.js";
import { registerRm } from "./rm.js";
import { registerStat } from "./stat.js";
import { registerSync } from "./sync.js";
import { registerTail } from "./tail.js";
import { REMOTE_SYNTAX } from "./remote-path.js";

export const ADDRESSING_HELP = `
Remote paths: ${REMOTE_SYNTAX}
  web-0:/etc/hosts             pod web-0, namespace from -n ($PODFILES_NAMESPACE, else "default")
  prod/web-0:/var/log          pod web-0 in namespace prod, its default container
  prod/web-0/nginx:/etc/nginx  container nginx of that pod (same as -n prod -c nginx web-0:/etc/nginx)
  prod/web-0:nginx:/etc/nginx  the same (the container after the pod, before an absolute path)
Local paths are plain paths. The server is --server URL ($PODFILES_SERVER); without one, and with a
kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config; --context), each pod's node agent is reached
through the API server (pods/portforward: WebSocket, else SPDY; $PODFILES_TUNNEL_PROTOCOL=spdy|websocket
picks one) as the kubeconfig's user; with neither, http://127.0.0.1:8080.
The bearer token is --token ($PODFILES_TOKEN). Errors print one line (gRPC status and message).
Exit codes: 0 ok, 1 the command failed, 2 usage (a missing argument, an unknown command or option).`;

export function registerFileCommands(program: Command): void {
  for (const register of [registerLs, registerStat, registerGet, registerPut, registerMv, registerRm, registerMkdir]) {
    register(program);
  }
  registerCp(program);
  registerCat(program);
  registerCompletion(program);
  registerComplete(program);
  for (const register of [registerFind, registerDu, registerTail, registerSync]) register(program);
  for (const cmd of program.commands) {
    if (["ls", "stat", "get", "put", "mv", "rm", "mkdir", "cp", "cat", "find", "du", "tail", "sync"].includes(cmd.name()))
      cmd.addHelpText("after", ADDRESSING_HELP);
  }
}
