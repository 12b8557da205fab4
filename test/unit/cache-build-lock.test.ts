/**
 * The two builds into the shared cache (scripts/toolchain.sh: the Pulumi engine; scripts/dev/debian-rootfs.sh:
 * the SSH-host stand-in's Debian) run one at a time per cache: a second run started while the first builds
 * waits on its lock and then takes what the first built, never building over it. The "first build" here is
 * this test holding the lock (flock(1), as the scripts do) and then writing the stamp the build ends with;
 * every step is an event the test waits on, never a delay.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";

/** Holds `lockFile` with flock(1) until the returned release() is called. */
async function holdLock(lockFile: string): Promise<() => Promise<void>> {
  const holder = spawn("flock", [lockFile, "sh", "-c", "echo held; read _"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on("data", (d: Buffer) => d.toString().includes("held") && resolve());
    holder.on("exit", (c) => reject(new Error(`flock exited ${c}`)));
  });
  return async () => {
    const gone = new Promise((r) => holder.on("exit", r));
    holder.stdin.end("\n");
    await gone;
  };
}

/** Runs a script; resolves with its stderr's waiting line's path as soon as it names it, and with its end. */
function start(script: string, args: string[], cache: string) {
  const p = spawn("bash", [path.join(projectRoot, script), ...args], {
    env: { ...process.env, PENGUINMAILS_CACHE: cache },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  p.stdout.on("data", (d: Buffer) => (out += d));
  const waiting = new Promise<string>((resolve) =>
    p.stderr.on("data", (d: Buffer) => {
      err += d;
      const m = /waiting for it to finish (\S+)/.exec(err);
      if (m) resolve(m[1]);
    }),
  );
  const ended = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    p.on("close", (code) => resolve({ code, out, err })),
  );
  return { waiting, ended };
}

const maybeRoot = process.getuid?.() === 0 ? test : test.skip;

describe("one build at a time per cache", () => {
  let cache: string;
  beforeEach(() => (cache = fs.mkdtempSync(path.join(os.tmpdir(), "pm-cache-lock-"))));
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));

  test("the toolchain: a second run waits for the first and takes its build", async () => {
    fs.mkdirSync(cache, { recursive: true });
    const release = await holdLock(path.join(cache, ".toolchain.lock"));
    const second = start("scripts/toolchain.sh", ["--print-bin"], cache);
    const bin = await second.waiting;
    // the first build ends: its binaries and the stamp
    fs.writeFileSync(path.join(bin, "pulumi"), "#!/bin/sh\n");
    fs.writeFileSync(path.join(bin, ".complete"), "");
    await release();
    const r = await second.ended;
    expect([r.code, r.out.trim()]).toEqual([0, bin]);
    expect(r.err).not.toContain("building pulumi");
  }, 120_000);

  maybeRoot(
    "the Debian root filesystem: a second run waits and never replaces the folder the first made",
    async () => {
      fs.mkdirSync(path.join(cache, "rootfs"), { recursive: true });
      const release = await holdLock(path.join(cache, "rootfs", ".trixie.lock"));
      const second = start("scripts/dev/debian-rootfs.sh", ["--suite", "trixie", "--print-dir"], cache);
      const dir = await second.waiting;
      fs.mkdirSync(path.join(dir, "proc"), { recursive: true });
      fs.writeFileSync(path.join(dir, ".penguinmails-rootfs-complete"), "");
      const inode = fs.statSync(dir).ino;
      await release();
      const r = await second.ended;
      expect([r.code, r.out.trim()]).toEqual([0, dir]);
      expect(fs.statSync(dir).ino).toBe(inode);
      expect(fs.existsSync(path.join(dir, "proc"))).toBe(true);
    },
    120_000,
  );
});
