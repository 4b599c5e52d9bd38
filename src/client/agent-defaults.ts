// Where a kubeconfig client looks for the node agents: deploy/'s namespace and DaemonSet labels.
export const DEFAULT_AGENT_NAMESPACE = "podfiles";
export const DEFAULT_AGENT_SELECTOR = "app.kubernetes.io/name=podfiles,app.kubernetes.io/component=agent";
