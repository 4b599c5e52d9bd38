// The flags that send ExecFs reads straight to the kubelets (seed 003), shared by `serve --exec`
// and the agent's --exec-fallback; named after metrics-server's, which reaches kubelets the same way.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { KubeletAccess } from "../resolve/exec-resolver.js";

export interface KubeletFlags {
  execReadsViaKubelet?: boolean;
  kubeletPort?: string;
  kubeletCertificateAuthority?: string;
}

export function addKubeletOptions(cmd: Command, whenHelp: string): Command {
  return cmd
    .option(
      "--exec-reads-via-kubelet",
      `${whenHelp}: commands without stdin (every read) exec straight to the pod's kubelet at its host IP, sparing the API server the bytes; ` +
        "writes still go through the API server (needs `get` on nodes/proxy: deploy/exec-kubelet/)",
    )
    .option("--kubelet-port <port>", "with --exec-reads-via-kubelet: the kubelets' port", "10250")
    .option(
      "--kubelet-certificate-authority <file>",
      "with --exec-reads-via-kubelet: PEM CA of the kubelets' serving certificates (default: the cluster's CA from the kubeconfig)",
    );
}

/** Validate: the KubeletAccess the flags ask for, or undefined when reads go through the API server. */
export function kubeletAccess(o: KubeletFlags): KubeletAccess | undefined {
  if (!o.execReadsViaKubelet) {
    if (o.kubeletCertificateAuthority) throw new Error("--kubelet-certificate-authority needs --exec-reads-via-kubelet");
    return undefined;
  }
  const port = Number(o.kubeletPort ?? "10250");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--kubelet-port ${o.kubeletPort}: not a port number`);
  if (!o.kubeletCertificateAuthority) return { port };
  try {
    return { port, ca: readFileSync(o.kubeletCertificateAuthority) };
  } catch {
    throw new Error(`--kubelet-certificate-authority ${o.kubeletCertificateAuthority}: cannot be read`);
  }
}
