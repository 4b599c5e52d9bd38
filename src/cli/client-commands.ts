// Which first words run the client commands only (bin/podfiles.js then loads the bundle and
// main.ts skips the server stack) and which are the server's (serve, agent: registered only
// when one of them, or the full help, is asked for). bin/podfiles.js keeps the same list
// (CommonJS, it cannot import this); test/cli/exit-codes.spec.ts checks that they agree.
export const CLIENT_COMMANDS = new Set([
  "ls",
  "stat",
  "get",
  "put",
  "mv",
  "rm",
  "mkdir",
  "cp",
  "cat",
  "find",
  "du",
  "tail",
  "sync",
  "version",
  "--version",
  "-V",
  "completion",
  "__complete",
]);

export const SERVER_COMMANDS = ["serve", "agent"] as const;
