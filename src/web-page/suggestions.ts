// The namespace / pod / container fields' suggestions: the containers the caller may read, from
// ListContainers (RBAC-filtered by the server), narrowed by what is typed in the fields before;
// when that call fails (an older server: UNIMPLEMENTED; not signed in yet; the API unreachable)
// the containers this browser opened before. The form's data-suggestions says which ("listed" or
// "recent"), for people reading the DOM and for the tests.
import type { ContainerInfo, PodfilesWebClient } from "../web.js";

/** At most this many containers are kept (a page of the datalist is for picking, not for a census). */
export const MAX_SUGGESTED = 5000;
const RECENT_KEY = "podfiles.recent";

type Field = "ns" | "pod" | "ctr";

export class Suggestions {
  private listed: ContainerInfo[] | undefined;
  private seq = 0;

  constructor(
    private readonly form: HTMLElement,
    private readonly input: (f: Field) => HTMLInputElement,
    private readonly datalist: (f: Field) => HTMLDataListElement,
  ) {
    for (const f of ["ns", "pod"] as const) input(f).addEventListener("input", () => this.render());
  }

  /** Asks the server again (after sign-in or sign-out); the recent containers meanwhile. */
  async refresh(client: PodfilesWebClient): Promise<void> {
    const seq = ++this.seq;
    const got: ContainerInfo[] = [];
    try {
      for await (const c of client.containers({ timeoutMs: 15_000 })) {
        got.push(c);
        if (got.length >= MAX_SUGGESTED) break;
      }
      if (seq !== this.seq) return;
      this.listed = got;
    } catch {
      if (seq !== this.seq) return;
      this.listed = undefined;
    }
    this.render();
  }

  /** Remembers a container that opened (the fallback suggestions). */
  remember(ns: string, pod: string, ctr: string): void {
    const recent = this.recent();
    for (const [k, v] of [
      ["ns", ns],
      ["pod", pod],
      ["ctr", ctr],
    ] as const) {
      recent[k] = [v, ...(recent[k] ?? []).filter((x) => x !== v)].slice(0, 10);
    }
    localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
    this.render();
  }

  render(): void {
    this.form.dataset.suggestions = this.listed ? "listed" : "recent";
    if (!this.listed) {
      const recent = this.recent();
      for (const f of ["ns", "pod", "ctr"] as const)
        this.fill(
          f,
          (recent[f] ?? []).map((v) => [v, ""]),
        );
      return;
    }
    const ns = this.input("ns").value.trim();
    const pod = this.input("pod").value.trim();
    const inNs = this.listed.filter((c) => !ns || c.namespace === ns);
    const pods = new Map<string, ContainerInfo>();
    for (const c of inNs) if (!pods.has(c.pod) || c.defaultContainer) pods.set(c.pod, c);
    this.fill(
      "ns",
      [...new Set(this.listed.map((c) => c.namespace))].map((n) => [n, ""]),
    );
    this.fill(
      "pod",
      [...pods.values()].map((c) => [
        c.pod,
        [ns ? "" : c.namespace, c.node ? `node ${c.node}` : "", c.running ? "running" : "not running"].filter(Boolean).join(" · "),
      ]),
    );
    this.fill(
      "ctr",
      inNs
        .filter((c) => !pod || c.pod === pod)
        .map((c) => [c.container, [c.defaultContainer ? "default" : "", c.image, c.running ? "" : "not running"].filter(Boolean).join(" · ")]),
    );
  }

  private fill(f: Field, options: [value: string, label: string][]): void {
    const seen = new Set<string>();
    const els: HTMLOptionElement[] = [];
    for (const [value, label] of options) {
      if (seen.has(value)) continue;
      seen.add(value);
      const o = document.createElement("option");
      o.value = value;
      if (label) o.label = label;
      els.push(o);
    }
    this.datalist(f).replaceChildren(...els);
  }

  private recent(): Partial<Record<Field, string[]>> {
    try {
      return JSON.parse(localStorage.getItem(RECENT_KEY) ?? "{}");
    } catch {
      return {};
    }
  }
}
