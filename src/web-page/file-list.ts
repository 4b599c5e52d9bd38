// The directory listing: a virtualised grid. Only the rows in view (plus a few) exist in the DOM,
// absolutely placed over a spacer as tall as all rows, so a 100,000-entry directory costs what a
// screenful costs to draw; entries stream in while the first ones are already on screen. Names go
// in through textContent only (a file name is data, never markup).
import { FileType, type FileEntry } from "../web.js";
import { formatBytes, formatTime } from "./format.js";
import { nameComparer } from "./name-order.js";

export type SortKey = "name" | "mode" | "user" | "size" | "mtime";
export type RowAction = "open" | "download" | "rename" | "delete";

const ROW_HEIGHT = 26;
const OVERSCAN = 8;
/** glyphs every system font has (emoji fonts are often missing on servers and in CI) */
const ICONS: Partial<Record<FileType, string>> = { [FileType.DIRECTORY]: "▸", [FileType.SYMLINK]: "↪", [FileType.REGULAR]: "▫" };

export const mtimeOf = (e: FileEntry) => (e.modifyTime ? Number(e.modifyTime.seconds) * 1000 + Math.floor(e.modifyTime.nanos / 1e6) : 0);

export class FileList {
  private entries: FileEntry[] = [];
  private view: FileEntry[] = [];
  private sortKey: SortKey = "name";
  private descending = false;
  private filter = "";
  private frame = 0;
  private readonly rows: HTMLElement[] = [];
  /** the entry each visible row displays, set when it is painted */
  private readonly shown = new WeakMap<HTMLElement, FileEntry>();
  /** called after each paint with the number of rows on screen */
  onPaint?: (visibleRows: number) => void;

  constructor(
    private readonly el: HTMLElement,
    private readonly spacer: HTMLElement,
    private readonly act: (action: RowAction, entry: FileEntry) => void,
  ) {
    el.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(el);
    el.addEventListener("click", (ev) => {
      const target = ev.target as HTMLElement;
      const row = target.closest<HTMLElement>(".row");
      const action = target.closest<HTMLElement>("[data-action]")?.dataset.action as RowAction | undefined;
      if (!row || !action) return;
      // the entry the row shows, not this.view at its index: a sort, a filter or a listing
      // re-orders the view at once and the rows only on the next frame (a click in between
      // renamed the wrong file in a CI run)
      const entry = this.shown.get(row);
      if (entry) this.act(action, entry);
    });
  }

  get size(): number {
    return this.entries.length;
  }

  reset(): void {
    this.entries = [];
    this.view = [];
    this.el.scrollTop = 0;
    this.schedule();
  }

  /** Entries as they stream in: shown in arrival order until finish() sorts them. */
  add(entry: FileEntry): void {
    this.entries.push(entry);
    if (this.matches(entry)) this.view.push(entry);
    this.schedule();
  }

  finish(): void {
    this.refresh();
  }

  sortBy(key: SortKey): { key: SortKey; descending: boolean } {
    this.descending = this.sortKey === key ? !this.descending : false;
    this.sortKey = key;
    this.refresh();
    return { key, descending: this.descending };
  }

  setFilter(text: string): void {
    this.filter = text.toLowerCase();
    this.refresh();
  }

  find(name: string): FileEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  private matches(e: FileEntry): boolean {
    return this.filter === "" || e.name.toLowerCase().includes(this.filter);
  }

  private refresh(): void {
    const dir = this.descending ? -1 : 1;
    const key = this.sortKey;
    const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
    const byName = nameComparer(collator);
    const cmp = (a: FileEntry, b: FileEntry): number => {
      const da = a.type === FileType.DIRECTORY ? 0 : 1;
      const db = b.type === FileType.DIRECTORY ? 0 : 1;
      if (da !== db) return da - db;
      let c = 0;
      if (key === "size") c = Number(a.size - b.size);
      else if (key === "mtime") c = mtimeOf(a) - mtimeOf(b);
      else if (key === "mode") c = a.modeText < b.modeText ? -1 : a.modeText > b.modeText ? 1 : 0;
      else if (key === "user") c = collator.compare(a.user || String(a.uid), b.user || String(b.uid));
      return dir * (c || byName(a.name, b.name));
    };
    this.view = this.entries.filter((e) => this.matches(e)).sort(cmp);
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  private paint(): void {
    this.spacer.style.height = `${this.view.length * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(this.el.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.view.length, Math.ceil((this.el.scrollTop + this.el.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.rows.length < needed) this.rows.push(this.el.appendChild(makeRow()));
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i]!;
      const entry = this.view[first + i];
      if (i >= needed || !entry) {
        row.hidden = true;
        this.shown.delete(row);
        continue;
      }
      row.hidden = false;
      // the same entry object at the same place is already drawn; a reloaded entry with the same
      // name (a replaced file: new size and time) is a new object and is drawn again
      if (this.shown.get(row) === entry && row.dataset.index === String(first + i)) continue;
      fillRow(row, entry, first + i);
      this.shown.set(row, entry);
    }
    this.onPaint?.(needed);
  }
}

function makeRow(): HTMLElement {
  const row = document.createElement("div");
  row.className = "row";
  row.setAttribute("role", "row");
  row.innerHTML =
    '<span class="name"><span class="icon"></span><a data-action="open"></a><span class="link"></span></span>' +
    '<span class="mode"></span><span class="owner"></span><span class="size num"></span><span class="mtime"></span>' +
    '<span class="actions"><button type="button" data-action="download">Download</button><button type="button" data-action="rename">Rename</button><button type="button" data-action="delete">Delete</button></span>';
  return row;
}

function fillRow(row: HTMLElement, e: FileEntry, index: number): void {
  row.dataset.index = String(index);
  row.dataset.name = e.name;
  row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
  const [icon, name, link] = row.firstElementChild!.children as unknown as HTMLElement[];
  const cells = row.children as unknown as HTMLElement[];
  icon!.textContent = ICONS[e.type] ?? "◦";
  icon!.className = e.type === FileType.DIRECTORY ? "icon dir" : "icon";
  name!.textContent = e.name;
  name!.title = e.path;
  link!.textContent = e.type === FileType.SYMLINK ? ` → ${e.symlinkTarget}` : "";
  cells[1]!.textContent = e.modeText;
  cells[2]!.textContent = `${e.user || e.uid}:${e.group || e.gid}${e.nlink > 1n ? ` (${e.nlink} links)` : ""}`;
  cells[3]!.textContent = e.type === FileType.DIRECTORY ? "" : formatBytes(Number(e.size));
  cells[3]!.title = `${e.size} bytes`;
  cells[4]!.textContent = formatTime(mtimeOf(e));
  const download = cells[5]!.firstElementChild as HTMLButtonElement;
  download.textContent = e.type === FileType.DIRECTORY ? "Download .tar" : "Download";
}
