/**
 * restic on the operator's machine (Debian's `restic`), for what must work
 * while a server is gone: reading a repository's snapshots for `verify`, and
 * keeping the fleet's state archives (`fleet backup-state`). The password and
 * the backend's credentials travel in the child's environment only, never in
 * arguments, and every error is scrubbed of them.
 */
import { spawn } from "child_process";
import { scrub } from "../../providers/lib/secrets";

/** How to open one repository (a server's: the stack output `servers[].backup.access`). */
export interface ResticAccess {
  repository: string;
  password: string;
  env?: Record<string, string>;
}

export class ResticError extends Error {
  override readonly name = "ResticError";
}

const secretsOf = (a: ResticAccess) => [
  a.password,
  a.repository,
  ...Object.values(a.env ?? {}),
  ...(/:\/\/([^/@]*)@/.exec(a.repository)?.[1].split(":") ?? []),
];

/** Where the repository is, without credentials (for messages). */
export const displayRepository = (repository: string) => repository.replace(/:\/\/[^/@]*@/, "://");

/** Runs restic with `args` on the repository; resolves stdout, rejects with restic's last error line (scrubbed). */
export function restic(access: ResticAccess, args: string[], o: { stdin?: Buffer; binary?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      RESTIC_CACHE_DIR: process.env.RESTIC_CACHE_DIR ?? `${process.env.HOME ?? "/tmp"}/.cache/restic`,
      ...(access.env ?? {}),
      RESTIC_REPOSITORY: access.repository,
      RESTIC_PASSWORD: access.password,
    };
    // Reads take no lock, so a check never waits on (or blocks) a server's running backup.
    const readOnly = ["snapshots", "stats", "dump"].includes(args[0]);
    const p = spawn("restic", readOnly ? ["--no-lock", ...args] : args, {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
    });
    p.once("error", (e) =>
      reject(new ResticError(/ENOENT/.test(e.message) ? "restic is not installed on this machine (apt-get install restic)" : e.message)),
    );
    p.once("close", (code) => {
      if (code === 0) return resolve(Buffer.concat(out));
      const last = err.trim().split("\n").filter(Boolean).slice(-2).join(" / ") || `exit ${code}`;
      reject(new ResticError(`restic ${args[0]} on ${displayRepository(access.repository)}: ${scrub(last, secretsOf(access))}`));
    });
    // A command that reads no stdin may exit before its stdin is closed: that EPIPE is not the
    // command's outcome (its exit code is), and unhandled it was thrown out of the test that ran it.
    p.stdin.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE") reject(new ResticError(`restic ${args[0]}: writing its input failed: ${e.message}`));
    });
    p.stdin.end(o.stdin ?? "");
  });
}

export interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  paths: string[];
  tags?: string[];
}

export async function snapshots(access: ResticAccess, filter: string[] = []): Promise<Snapshot[]> {
  const list = JSON.parse((await restic(access, ["snapshots", "--json", ...filter])).toString() || "[]") as Snapshot[] | null;
  return (list ?? []).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}

export interface RepositoryStatus {
  snapshots: number;
  /** The newest snapshot's time. */
  latest?: string;
  latestId?: string;
  /** Bytes the repository stores (deduplicated, compressed, encrypted): restic stats --mode raw-data. */
  storedBytes: number;
  /** Bytes the newest snapshot restores to: restic stats --mode restore-size latest. */
  restoreBytes: number;
}

export async function repositoryStatus(access: ResticAccess, filter: string[] = []): Promise<RepositoryStatus> {
  const list = await snapshots(access, filter);
  const latest = list[list.length - 1];
  const raw = JSON.parse((await restic(access, ["stats", "--json", "--mode", "raw-data"])).toString()) as { total_size?: number };
  const restore = latest
    ? (JSON.parse((await restic(access, ["stats", "--json", "--mode", "restore-size", latest.id])).toString()) as { total_size?: number })
    : {};
  return {
    snapshots: list.length,
    latest: latest?.time,
    latestId: latest?.short_id,
    storedBytes: raw.total_size ?? 0,
    restoreBytes: restore.total_size ?? 0,
  };
}
