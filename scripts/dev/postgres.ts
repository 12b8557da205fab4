/**
 * A private PostgreSQL cluster for tests, the demo and the benchmarks: Debian's `postgresql`
 * binaries (`initdb`, `pg_ctl` under /usr/lib/postgresql/<version>/bin), a data folder in a temp
 * dir, listening only on a unix socket in that dir (no TCP port, so checkouts never collide), trust
 * auth for the one local superuser. initdb refuses to run as root, so as root the cluster runs as
 * the `postgres` system user the package creates, and the temp dir is handed to it.
 * Production code never imports this: the service takes a connection string.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface PrivatePostgres {
  /** Connection string for the `postgres` superuser over the unix socket. */
  url: string;
  dir: string;
  /**
   * Stops the server, keeping its data (an outage): `immediate` (default) as a crash would, `fast`
   * as an operator's shutdown (clients disconnected, a clean checkpoint); `resume` starts it again.
   */
  halt(mode?: "immediate" | "fast"): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The newest installed server's bin folder, or a message saying how to install it. */
export function postgresBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => fs.existsSync(path.join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length)
    throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): apt-get install -y postgresql");
  return path.join(base, versions[0], "bin");
}

/** Runs a server binary as the cluster's owner: `postgres` when we are root, else ourselves. */
function asOwner(bin: string, args: string[], asRoot: boolean): void {
  const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  try {
    execFileSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${path.basename(bin)} ${args[0]}: ${(err.stderr?.toString() || err.stdout?.toString() || err.message).trim()}`);
  }
}

/** Starts a fresh cluster; `stop()` stops it and removes its folder. */
export async function startPrivatePostgres(name = "pm"): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-pg-`));
  const data = path.join(dir, "data");
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    fs.chownSync(dir, uid, gid);
  }
  asOwner(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync", "-A", "trust"], asRoot);
  const opts = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c fsync=off -c max_connections=200`;
  asOwner(path.join(bin, "pg_ctl"), ["start", "-D", data, "-w", "-s", "-l", path.join(dir, "log"), "-o", opts], asRoot);
  const url = `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`;
  let stopped = false;
  return {
    url,
    dir,
    async halt(mode = "immediate") {
      asOwner(path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", mode, "-s", "-w"], asRoot);
    },
    async resume() {
      asOwner(path.join(bin, "pg_ctl"), ["start", "-D", data, "-w", "-s", "-l", path.join(dir, "log"), "-o", opts], asRoot);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        asOwner(path.join(bin, "pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-s", "-w"], asRoot);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
