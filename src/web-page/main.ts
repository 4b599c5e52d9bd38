// The file browser page: pick a container, browse it, move files in and out. Every API call goes
// through the SDK's browser client (Connect-Web); the page is served by the server it talks to
// (same origin), with nothing fetched from anywhere else.
import { FileType, type ContainerRef, type FileEntry, type PodfilesWebClient } from "../web.js";
import { FileList, type RowAction, type SortKey } from "./file-list.js";
import { describeError } from "./format.js";
import { Session } from "./session.js";
import { Suggestions } from "./suggestions.js";
import { Transfers, type UploadRequest } from "./transfers.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const session = new Session();

// ---- where we are: namespace / pod / container / path, kept in the URL's hash (never the token)
interface Place extends Required<ContainerRef> {
  path: string;
}
function placeFromHash(): Place {
  const q = new URLSearchParams(location.hash.slice(1));
  return { namespace: q.get("ns") || "local", pod: q.get("pod") || "local", container: q.get("c") ?? "local", path: q.get("path") || "/" };
}
let place = placeFromHash();
function go(next: Partial<Place>): void {
  place = { ...place, ...next };
  const q = new URLSearchParams({ ns: place.namespace, pod: place.pod, c: place.container, path: place.path });
  if (location.hash.slice(1) !== q.toString()) history.pushState(null, "", `#${q}`);
  void load();
}
const container = (): ContainerRef => ({ namespace: place.namespace, pod: place.pod, container: place.container });
const client = (): PodfilesWebClient => session.client(container());
const join = (dir: string, name: string) => (dir.endsWith("/") ? dir : `${dir}/`) + name;
const parentOf = (p: string) => p.replace(/\/[^/]*\/?$/, "") || "/";

// ---- messages: every failure says its status and the server's words
const messages = $("messages");
function say(kind: "error" | "info", text: string, code?: string): void {
  const div = document.createElement("div");
  div.className = `msg ${kind}`;
  if (code) div.dataset.code = code;
  const span = document.createElement("span");
  span.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.title = "dismiss";
  close.addEventListener("click", () => div.remove());
  div.append(span, close);
  messages.replaceChildren(div);
  if (kind === "info") setTimeout(() => div.remove(), 6000);
}
function fail(what: string, err: unknown): void {
  const { code, text } = describeError(err);
  say("error", `${what}: ${text}`, code);
  if (code === "UNAUTHENTICATED") $("signin").hidden = false;
}

// ---- the listing
const status = $("list-status");
const list = new FileList($("list"), $("list-spacer"), (action, entry) => void onRow(action, entry));
let loadSeq = 0;
/**
 * Entries per ListFiles message. The server stats every entry of a page before it sends it: with
 * its default (1000) the first rows of a 100,000-entry directory came after 262 ms, with 200 after
 * 20 ms (Node client, same server, loaded machine), and the whole listing was no slower.
 */
const LIST_PAGE = 200;
/** figures of the last listing, for the benchmark and the tests */
const listing = { path: "", startedMs: 0, firstRowsMs: -1, allMs: -1, count: 0 };
(window as unknown as { podfilesPage: unknown }).podfilesPage = { listing, client: () => client() };
list.onPaint = (rows) => {
  if (rows > 0 && listing.firstRowsMs < 0) listing.firstRowsMs = performance.now() - listing.startedMs;
};

async function load(): Promise<void> {
  const seq = ++loadSeq;
  ($("ns") as HTMLInputElement).value = place.namespace;
  ($("pod") as HTMLInputElement).value = place.pod;
  ($("ctr") as HTMLInputElement).value = place.container;
  renderCrumbs();
  list.reset();
  Object.assign(listing, { path: place.path, startedMs: performance.now(), firstRowsMs: -1, allMs: -1, count: 0 });
  status.textContent = "loading…";
  status.dataset.state = "loading";
  const hidden = ($("hidden-toggle") as HTMLInputElement).checked;
  try {
    let n = 0;
    for await (const entry of client().list(place.path, { hidden, pageSize: LIST_PAGE })) {
      if (seq !== loadSeq) return;
      list.add(entry);
      if (++n % 5000 === 0) status.textContent = `loading… ${n.toLocaleString()} entries`;
    }
    if (seq !== loadSeq) return;
    list.finish();
    listing.count = n;
    listing.allMs = performance.now() - listing.startedMs;
    status.textContent = `${n.toLocaleString()} entries`;
    status.dataset.state = "done";
    rememberContainer();
  } catch (err) {
    if (seq !== loadSeq) return;
    status.textContent = "";
    status.dataset.state = "failed";
    fail(`Listing ${place.path}`, err);
  }
}

function renderCrumbs(): void {
  const nav = $("crumbs");
  nav.replaceChildren();
  const parts = place.path.split("/").filter(Boolean);
  const add = (label: string, path: string) => {
    const a = document.createElement("a");
    a.textContent = label;
    a.addEventListener("click", () => go({ path }));
    nav.append(a);
  };
  add(`${place.namespace}/${place.pod}/${place.container || "(default)"}:/`, "/");
  parts.forEach((p, i) => {
    nav.append("/");
    add(p, `/${parts.slice(0, i + 1).join("/")}`);
  });
}

async function onRow(action: RowAction, e: FileEntry): Promise<void> {
  try {
    if (action === "open") {
      if (e.type === FileType.DIRECTORY) return go({ path: e.path });
      if (e.type === FileType.SYMLINK) {
        const target = await client().stat(e.path, { followSymlinks: true });
        if (target.type === FileType.DIRECTORY) return go({ path: e.path });
      }
      return void transfers.download(e.path, e.name, false);
    }
    if (action === "download") return void transfers.download(e.path, e.name, e.type === FileType.DIRECTORY);
    if (action === "rename") {
      const name = await ask(`Rename ${e.name} to:`, e.name);
      if (!name || name === e.name) return;
      const to = name.startsWith("/") ? name : join(parentOf(e.path), name);
      await client().rename(e.path, to);
      say("info", `Renamed ${e.name} to ${to}`);
      return void load();
    }
    if (action === "delete") {
      const dir = e.type === FileType.DIRECTORY;
      const ok = await ask(`Delete ${dir ? "the directory" : ""} ${e.path}${dir ? " and everything in it" : ""}? This cannot be undone.`, undefined, "Delete");
      if (!ok) return;
      await client().remove(e.path, { recursive: dir });
      say("info", `Deleted ${e.path}`);
      return void load();
    }
  } catch (err) {
    fail(`${action[0]!.toUpperCase()}${action.slice(1)} ${e.path}`, err);
  }
}

/** A small modal: with `value`, a text question (answer or undefined); without, a confirmation ("ok" or undefined). */
function ask(question: string, value?: string, okLabel = "OK"): Promise<string | undefined> {
  const dialog = $<HTMLDialogElement>("ask");
  const input = $<HTMLInputElement>("ask-input");
  $("ask-title").textContent = question;
  $("ask-ok").textContent = okLabel;
  input.hidden = value === undefined;
  input.value = value ?? "";
  dialog.returnValue = "";
  dialog.showModal();
  if (value !== undefined) input.select();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? (value === undefined ? "ok" : input.value.trim()) : undefined), {
      once: true,
    });
  });
}

// ---- uploads: picker, folder picker, drag and drop (files and whole folders)
const transfers = new Transfers($("queue"), $("interrupted"), client, container, (path) => {
  if (parentOf(path) === place.path || path.startsWith(join(place.path, ""))) void load();
});
transfers.showInterrupted();

function uploadFiles(files: Iterable<File>, relative = (f: File) => f.webkitRelativePath || f.name): void {
  const requests: UploadRequest[] = [...files].map((file) => ({ file, path: join(place.path, relative(file)) }));
  if (requests.length) transfers.upload(requests);
}
$("pick-files").addEventListener("click", () => $("file-input").click());
$("pick-folder").addEventListener("click", () => $("folder-input").click());
for (const id of ["file-input", "folder-input"]) {
  const input = $<HTMLInputElement>(id);
  input.addEventListener("change", () => {
    uploadFiles(input.files ?? []);
    input.value = "";
  });
}

const zone = $("drop-zone");
zone.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  zone.classList.add("dragging");
});
zone.addEventListener("dragleave", (ev) => {
  if (!zone.contains(ev.relatedTarget as Node)) zone.classList.remove("dragging");
});
zone.addEventListener("drop", (ev) => {
  ev.preventDefault();
  zone.classList.remove("dragging");
  const items = [...(ev.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (items.length === 0) return uploadFiles(ev.dataTransfer?.files ?? []);
  void Promise.all(items.map((e) => filesOf(e, ""))).then(
    (groups) => {
      const all = groups.flat();
      const requests = all.map(({ file, rel }) => ({ file, path: join(place.path, rel) }));
      if (requests.length) transfers.upload(requests);
    },
    (err) => fail("Reading the dropped folder", err),
  );
});

/** The files under a dropped entry, with their paths relative to the drop. */
async function filesOf(entry: FileSystemEntry, prefix: string): Promise<{ file: File; rel: string }[]> {
  const rel = prefix + entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    return [{ file, rel }];
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  const nested = await Promise.all(children.map((c) => filesOf(c, `${rel}/`)));
  return nested.flat();
}

// ---- toolbar
$("up").addEventListener("click", () => go({ path: parentOf(place.path) }));
$("refresh").addEventListener("click", () => void load());
$("hidden-toggle").addEventListener("change", () => void load());
$<HTMLInputElement>("filter").addEventListener("input", (ev) => list.setFilter((ev.target as HTMLInputElement).value));
$("mkdir").addEventListener("click", async () => {
  const name = await ask("New folder name:", "");
  if (!name) return;
  try {
    await client().mkdir(join(place.path, name), { parents: true });
    say("info", `Created ${join(place.path, name)}`);
    void load();
  } catch (err) {
    fail(`New folder ${name}`, err);
  }
});
for (const b of document.querySelectorAll<HTMLButtonElement>("[data-sort]")) {
  b.addEventListener("click", () => {
    const s = list.sortBy(b.dataset.sort as SortKey);
    for (const o of document.querySelectorAll("[data-sort]")) o.classList.remove("sorted", "desc");
    b.classList.add("sorted");
    b.classList.toggle("desc", s.descending);
  });
}
document.querySelector('[data-sort="name"]')!.classList.add("sorted");

$<HTMLFormElement>("container-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  go({
    namespace: $<HTMLInputElement>("ns").value.trim(),
    pod: $<HTMLInputElement>("pod").value.trim(),
    container: $<HTMLInputElement>("ctr").value.trim(),
    path: "/",
  });
});

// Suggestions: the containers the caller may read (ListContainers), else the ones opened before here.
const suggestions = new Suggestions(
  $("container-form"),
  (f) => $<HTMLInputElement>(f),
  (f) => $<HTMLDataListElement>(`recent-${f}`),
);
const rememberContainer = () => suggestions.remember(place.namespace, place.pod, place.container);
const refreshSuggestions = () => void suggestions.refresh(client());

// ---- sign in / out
async function showIdentity(): Promise<void> {
  $("signout").hidden = !session.signedIn;
  $("signin-toggle").hidden = session.signedIn;
  if (!session.signedIn) return void ($("identity").textContent = "not signed in");
  try {
    $("identity").textContent = `signed in as ${(await session.whoAmI()) ?? "?"}`;
  } catch (err) {
    const { code } = describeError(err);
    $("identity").textContent = code === "UNIMPLEMENTED" || code === "NOT_FOUND" ? "token set (this server has no sign-in)" : `token rejected (${code})`;
  }
}
$("signin-toggle").addEventListener("click", () => ($("signin").hidden = !$("signin").hidden));
$("signout").addEventListener("click", () => {
  session.signOut();
  void showIdentity();
  void load();
  refreshSuggestions();
});
$<HTMLFormElement>("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $<HTMLTextAreaElement>("token");
  if (!t.value.trim()) return;
  session.setToken(t.value, $<HTMLInputElement>("remember").checked);
  t.value = "";
  signedIn();
});
$<HTMLFormElement>("basic-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const pw = $<HTMLInputElement>("password");
  try {
    session.setToken(await session.issueToken($<HTMLInputElement>("client").value.trim(), pw.value), $<HTMLInputElement>("remember").checked);
    pw.value = "";
    signedIn();
  } catch (err) {
    fail("Sign in", err);
  }
});
function signedIn(): void {
  $("signin").hidden = true;
  messages.replaceChildren();
  void showIdentity();
  void load();
  refreshSuggestions();
}

window.addEventListener("popstate", () => {
  place = placeFromHash();
  void load();
});
void showIdentity();
void load();
suggestions.render();
refreshSuggestions();
