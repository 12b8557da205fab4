/**
 * A real S3-compatible server on loopback for tests: gofakes3 (github.com/johannesboyne/gofakes3,
 * its `cmd/gofakes3` server command), built from its Go module and cached by version by
 * scripts/dev/gofakes3.sh. It keeps its buckets in memory (`-backend memory`), creates one bucket
 * at start (`-initialbucket`), binds port 0 and prints `using port: <n>` (its cmd/gofakes3
 * main.go), and accepts any credentials (its source reads no Authorization header; its own tests say so). Used as restic's `s3:` repository and as Pulumi's `s3://` DIY backend.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as path from "path";
import { projectRoot } from "../../lib/engine/pulumi-env";

export interface S3ServerOptions {
  /** The bucket made at start. */
  bucket: string;
}

export class GoFakeS3 {
  private proc?: ChildProcess;
  /** Any pair works with gofakes3; these are what the clients are given. */
  readonly accessKeyId = "pm-test-access-key";
  readonly secretAccessKey = "pm-test-secret-key-0123456789";
  port = 0;

  constructor(private o: S3ServerOptions) {}

  /** Builds gofakes3 when the cache lacks it (Go and the module proxy; about a minute cold) and returns the binary. */
  static binary(): string {
    return execFileSync("bash", [path.join(projectRoot, "scripts", "dev", "gofakes3.sh"), "--print-bin"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 15 * 60_000,
    }).trim();
  }

  async start(): Promise<this> {
    const p = spawn(GoFakeS3.binary(), ["-backend", "memory", "-host", "127.0.0.1:0", "-initialbucket", this.o.bucket, "-quiet"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = p;
    this.port = await new Promise<number>((resolve, reject) => {
      let text = "";
      p.stderr!.on("data", (d: Buffer) => {
        text += d.toString();
        const m = /using port: (\d+)/.exec(text);
        if (m) resolve(Number(m[1]));
      });
      p.once("exit", (code) => reject(new Error(`gofakes3 exited (${code}): ${text.trim().split("\n").pop()}`)));
    });
    // Listening is not answering yet: wait until the bucket lists (ListObjectsV2), within a generous ceiling.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`${this.endpoint}/${this.o.bucket}?list-type=2`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`gofakes3 on port ${this.port} did not answer within 60 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return this;
  }

  /** http://127.0.0.1:<port> */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** restic's repository URL of the bucket (restic's S3 backend: `s3:http://host:port/bucket`). */
  get resticRepository(): string {
    return `s3:${this.endpoint}/${this.o.bucket}`;
  }

  /** Pulumi's DIY backend URL of the bucket (Pulumi docs, "Using a DIY Backend", S3-compatible servers). */
  backendUrl(folder = ""): string {
    return `s3://${this.o.bucket}${folder ? `/${folder}` : ""}?endpoint=127.0.0.1:${this.port}&disableSSL=true&s3ForcePathStyle=true`;
  }

  /** The credentials as environment variables (restic, the Pulumi CLI and scripts/lib/s3.ts read these). */
  get env(): Record<string, string> {
    return { AWS_ACCESS_KEY_ID: this.accessKeyId, AWS_SECRET_ACCESS_KEY: this.secretAccessKey };
  }

  /** Keys in the bucket under a prefix (for tests to look at what was written). */
  async keys(prefix = ""): Promise<string[]> {
    const out: string[] = [];
    let token = "";
    do {
      const q = new URLSearchParams({ "list-type": "2", prefix, ...(token ? { "continuation-token": token } : {}) });
      const xml = await (await fetch(`${this.endpoint}/${this.o.bucket}?${q}`)).text();
      for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) out.push(m[1]);
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? (/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? "") : "";
    } while (token);
    return out;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  }
}
