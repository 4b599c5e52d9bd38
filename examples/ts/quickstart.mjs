// @ts-check
// npm install podfiles, then: node quickstart.mjs (with `npx podfiles serve --root DIR` running)
import { createPodfilesClient, PodfilesError, Code } from "podfiles";

const client = createPodfilesClient({
  baseUrl: process.env.PODFILES_SERVER ?? "http://127.0.0.1:8080",
  token: process.env.PODFILES_TOKEN, // sent as "Authorization: Bearer …" when set
  container: { namespace: "local", pod: "local", container: "local" },
});
try {
  for await (const entry of client.list("/")) console.log(entry.name, entry.size);

  // upload: size and SHA-256 are sent, so the server keeps the file only if every byte arrived
  await client.upload(Buffer.from("hello from the SDK\n"), "/sdk/hello.txt", { makeParents: true, overwrite: "overwrite" });

  // download: a stream (async iterable, .toReadable(), .toWebStream()) checked against the SHA-256
  const chunks = [];
  for await (const chunk of client.download("/sdk/hello.txt")) chunks.push(chunk);
  console.log(Buffer.concat(chunks).toString().trim());

  // into a file, via hello.txt.part (resume: true continues an interrupted download)
  const got = await client.downloadToFile("/sdk/hello.txt", "hello.txt", { resume: true });
  console.log(`${got.path}: ${got.size} bytes, sha256 ${got.sha256}`);

  await client.stat("/no/such/file").catch((err) => {
    if (!(err instanceof PodfilesError && err.code === Code.NotFound)) throw err;
    console.log(`${err.codeName}: ${err.rawMessage}`);
  });
} finally {
  client.close();
}
