// Run by caps.spec.ts under `setpriv --bounding-set` with a chosen capability set, as root:
// tries each file operation the agent does on a container's files through /proc/<pid>/root and
// prints {op: "ok" | errno} as JSON. Plain JS so it runs without a TypeScript loader.
import * as fs from "node:fs";

const [pid, uid] = process.argv.slice(2).map(Number);
const root = `/proc/${pid}/root`;
const result = {};
const tag = `${process.pid}-${Math.random().toString(36).slice(2)}`;
function attempt(name, fn) {
  try {
    fn();
    result[name] = "ok";
  } catch (e) {
    result[name] = e.code ?? String(e);
  }
}
attempt("open /proc/<pid>/root", () => fs.closeSync(fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)));
attempt("read a world-readable file", () => fs.readFileSync(`${root}/etc/passwd`));
attempt("read another user's 0600 file", () => fs.readFileSync(`${root}/home/private/secret`));
attempt("list another user's 0700 dir", () => fs.readdirSync(`${root}/home/private`));
attempt("create in another user's 0700 dir", () => {
  fs.writeFileSync(`${root}/home/private/new-${tag}`, "x");
  fs.unlinkSync(`${root}/home/private/new-${tag}`);
});
attempt("chown a new file to the container user", () => {
  const p = `${root}/tmp/chown-${tag}`;
  fs.writeFileSync(p, "x");
  try {
    fs.chownSync(p, uid, uid);
  } finally {
    fs.rmSync(p, { force: true });
  }
});
attempt("chmod another user's file", () => fs.chmodSync(`${root}/tmp/theirs`, 0o640));
attempt("move another user's file in their sticky dir", () => {
  fs.renameSync(`${root}/home/sticky/file`, `${root}/home/sticky/file-moved`);
  fs.renameSync(`${root}/home/sticky/file-moved`, `${root}/home/sticky/file`);
});
process.stdout.write(JSON.stringify(result));
