// The Go SDK (sdk/go): `go test ./...` there, whose TestMains start the built
// `podfiles serve` (bin/podfiles.js, with this Node) and run the tests, the
// runnable examples and the README's quickstart program against it.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cacheDir, repoRoot, run } from "./support.js";

// Go's build cache lives with the other slow builds in $PODFILES_CACHE (see
// scripts/lib/go-tools.sh), which CI keeps: compiling grpc-go and protobuf
// from nothing took 83 s of CPU (4 min 45 s on this shared 2-core machine).
const goCache = process.env.GOCACHE ?? join(cacheDir, "go-build");

// Tests and examples that must have run and passed (a renamed one fails here, not silently).
const mustPass = [
  "TestVerifierOnCraftedStreams",
  "TestDownloadFromALyingServer",
  "TestDownloadToFileResumesAfterAnInterruption",
  "TestDownloadToFileResumeChecksThePartialFile",
  "TestUploadResumesAfterAnInterruption",
  "TestUploadResumeRefusesAFileThatIsNotAPrefix",
  "TestUploadLeavesNothingBehindOnFailure",
  "TestUploadFileReadsItsFileOnceAndSendsTheDigestInTheTrailer",
  "TestUploadOfAPlainReaderSendsSizeAndDigestInTheTrailer",
  "TestErrorCodes",
  "TestTLSAndBearerToken",
  "TestReadme",
  "Example",
  "ExampleClient_List",
  "ExampleClient_UploadFile",
  "ExampleClient_DownloadToFile",
  "ExampleError",
];

describe("Go SDK (sdk/go) against podfiles serve", () => {
  it("passes go test ./... with its examples and the quickstart", { timeout: 600_000 }, async () => {
    const res = await run("go", ["test", "-count=1", "-v", "-timeout=240s", "./..."], {
      cwd: join(repoRoot, "sdk/go"),
      env: { PODFILES_NODE: process.execPath, GOCACHE: goCache },
      timeoutMs: 590_000,
      check: false,
    });
    const out = res.stdout.toString();
    expect(res.code, `go test failed:\n${out}\n${res.stderr}`).toBe(0);
    expect(out).not.toContain("--- SKIP");
    for (const name of mustPass) expect(out).toMatch(new RegExp(`^--- PASS: ${name} `, "m"));
    expect(out).toMatch(/^ok\s+github\.com\/podfiles\/podfiles\/sdk\/go\s/m);
    expect(out).toMatch(/^ok\s+github\.com\/podfiles\/podfiles\/sdk\/go\/examples\/quickstart\s/m);
  });
});
