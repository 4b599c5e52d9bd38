// The one rule for the permission bits an upload sets, on every upload path (streaming Upload,
// BeginUpload/Commit, APPEND, overwrite, tar entries): setuid and setgid are dropped unless the
// server was started with --allow-setid. An upload must not mint a privileged binary (the agent
// writes as root, so nothing else would stop it), nor keep a replaced file's bits for new content.
/** S_ISUID | S_ISGID (not in Node's fs.constants). */
const SETID = 0o4000 | 0o2000;

/** The permission bits (07777 at most) an upload may give a file or directory. */
export function uploadMode(mode: number, allowSetid: boolean): number {
  const bits = mode & 0o7777;
  return allowSetid ? bits : bits & ~SETID;
}
