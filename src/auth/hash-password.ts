// Prints the scrypt hash of a password read from stdin, for the clients file:
//   printf %s 'the password' | node dist/src/auth/hash-password.js
import { hashPassword } from "./passwords.js";

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const password = Buffer.concat(chunks)
  .toString("utf8")
  .replace(/\r?\n$/, "");
if (password.length < 8) {
  process.stderr.write("hash-password: give a password of at least 8 characters on stdin\n");
  process.exit(1);
}
process.stdout.write((await hashPassword(password)) + "\n");
