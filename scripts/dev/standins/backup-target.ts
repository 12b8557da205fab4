/**
 * A real backup target on loopback for tests, the demo and the benchmarks:
 * restic's REST protocol served by rclone (`rclone serve restic`, Debian's
 * `rclone` package), with HTTP basic auth, storing into a folder. restic's own
 * rest-server is not in Debian and its Go module is not served here; rclone
 * implements the same protocol (rclone's docs, "rclone serve restic": "Run a
 * basic web server to serve a remote over restic's REST backend API over
 * HTTP"), so restic on the server talks to it exactly as it would to
 * rest-server. It binds port 0 and reads the address rclone reports.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";

export interface BackupTargetOptions {
  /** Where the repositories are stored. */
  dir: string;
  /** Address to bind (default 127.0.0.1; port 0). */
  host?: string;
}

export class RestBackupTarget {
  private proc?: ChildProcess;
  readonly user = "pm-backup";
  readonly password = randomBytes(12).toString("hex");
  private origin = "";

  constructor(private o: BackupTargetOptions) {}

  /** Why this machine cannot run the target (rclone or restic missing), if it cannot. */
  static unavailableReason(): string | undefined {
    for (const tool of ["rclone", "restic"]) {
      try {
        execFileSync(tool, ["version"], { stdio: "ignore" });
      } catch {
        return `${tool} is not installed (apt-get install ${tool}; .ci/run installs it)`;
      }
    }
    return undefined;
  }

  async start(): Promise<this> {
    fs.mkdirSync(this.o.dir, { recursive: true });
    const p = spawn(
      "rclone",
      [
        "serve",
        "restic",
        this.o.dir,
        "--addr",
        `${this.o.host ?? "127.0.0.1"}:0`,
        "--user",
        this.user,
        "--pass",
        this.password,
        "--config",
        "/dev/null",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.proc = p;
    this.origin = await new Promise<string>((resolve, reject) => {
      let text = "";
      p.stderr!.on("data", (d: Buffer) => {
        text += d.toString();
        const m = /Serving restic REST API on (http:\/\/[^\s/]+)\//.exec(text);
        if (m) resolve(m[1]);
      });
      p.once("exit", (code) => reject(new Error(`rclone serve restic exited (${code}): ${text.trim().split("\n").pop()}`)));
    });
    return this;
  }

  /** The restic repository URL of the whole target (a secret: it carries the password). */
  get repository(): string {
    return `rest:${this.origin.replace("://", `://${this.user}:${this.password}@`)}/`;
  }

  /** Bytes stored in the target's folder. */
  storedBytes(dir = this.o.dir): number {
    let n = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true }))
      n += e.isDirectory() ? this.storedBytes(`${dir}/${e.name}`) : fs.statSync(`${dir}/${e.name}`).size;
    return n;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once("exit", () => resolve());
      p.kill("SIGTERM");
    });
  }
}
