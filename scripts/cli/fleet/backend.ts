/**
 * What the state backend knows about every stack in it, whatever config files say: the stacks
 * (every project), each one's state, and whether an update holds it. The owner set of `fleet
 * orphans`, the last-known world of `fleet drift` and the lock `fleet recover` clears all come
 * from here.
 *
 * A DIY backend is read directly, never through `pulumi stack ls` (at 10,000 stacks that alone
 * ran over 330 s and 3.4 GB: it loads every checkpoint). Three kinds are read (`stateStore`):
 * - `file://<dir>`: the folder itself.
 * - `postgres://…` (Pulumi's Postgres DIY backend, pkg/backend/diy/postgres, in the CLI since
 *   3.176): one table (`?table=`, default `pulumi_state`) of `key text primary key, data json,
 *   updated_at`; each blob the file backend would write is a row whose `data` is
 *   `{"data":"<base64 of the bytes>"}`; the keys are the file backend's paths under a prefix,
 *   the URL's path (the database name) plus "/" (pkg/backend/diy/backend.go wraps every non-file
 *   bucket in `blob.PrefixedBucket(bucket, <URL path>/)`), e.g. `pm/.pulumi/stacks/<project>/<stack>.json`.
 * - `s3://<bucket>[/<folders>][?endpoint=…&disableSSL=true&s3ForcePathStyle=true]` (AWS S3 or an
 *   S3-compatible server; Pulumi docs, "Using a DIY Backend", AWS S3): the bucket's objects, the
 *   folders being the keys' prefix as above, listed and read through the S3 API (scripts/lib/s3.ts)
 *   with the credentials the CLI would use when they are static (environment or shared
 *   credentials file); with none found there (roles, SSO), the CLI is asked as for other backends.
 * The layout under the root is the same for both (pkg/backend/diy/store.go): `.pulumi/meta.yaml`
 * (present: project mode), `.pulumi/stacks/<project>/<stack>.json` (older layout:
 * `.pulumi/stacks/<stack>.json`), `.json.gz` with PULUMI_DIY_BACKEND_GZIP, `.json.zst` with
 * PULUMI_DIY_BACKEND_ZSTD; `.bak` copies beside them are not stacks.
 *
 * Whether an update holds a stack: Pulumi Cloud says so in `stack ls` (`updateInProgress`); a DIY
 * backend keeps one lock blob per running update, `.pulumi/locks/<org>/<project>/<stack>/<id>.json`
 * holding the pid, user and host of the CLI that took it (pkg/backend/diy/lock.go). On a DIY
 * backend not read here (gs://, azblob://) the answer is "unknown", and callers treat
 * unknown as locked.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { Pool } from "pg";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { devDir } from "../../lib/engine/pulumi-env";
import { S3Bucket, s3Credentials, s3Location } from "../../lib/s3";
import { FleetProject } from "../../lib/stacks/tenants";

/** The folder holding the stacks' checkpoints of a file backend URL, or undefined for other backends. */
export function fileBackendDir(backendUrl: string): string | undefined {
  if (!backendUrl.startsWith("file://")) return undefined;
  return backendUrl.slice("file://".length).replace(/^~(?=\/)/, process.env.HOME ?? "~");
}

/** The project's name from Pulumi.yaml (the checkpoints of a project-mode backend are filed under it). */
export function projectName(p: FleetProject): string {
  const m = /^name:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(p.root, "Pulumi.yaml"), "utf8"));
  if (!m) throw new Error(`no name in ${path.join(p.root, "Pulumi.yaml")}`);
  return m[1];
}

/** The fleet's backend: PULUMI_BACKEND_URL, else the local dev backend. */
export function backendUrl(o: { localBackend?: string }): string {
  return process.env.PULUMI_BACKEND_URL ?? `file://${path.join(devDir, "backends", o.localBackend ?? "default")}`;
}

/** A DIY backend read directly: its stacks, their checkpoints and update locks, without the CLI. */
export interface StateStore {
  readonly url: string;
  /** Every stack in the backend (project "" in the older layout). */
  stacks(): Promise<Array<{ project: string; stack: string }>>;
  /** The checkpoints (decompressed JSON text) of these stacks of a project; a stack without one is absent. */
  checkpoints(project: string, stacks: string[]): Promise<Map<string, string>>;
  /** The update locks of a stack, newest first. */
  locks(project: string, stack: string): Promise<StackLock[]>;
  close(): Promise<void>;
}

const STACKS = ".pulumi/stacks/";
const EXTENSIONS = [".json", ".json.gz", ".json.zst"];

/** A checkpoint blob's bytes as JSON text, by its name's extension. */
export function checkpointText(name: string, bytes: Buffer): string {
  if (name.endsWith(".gz")) return zlib.gunzipSync(bytes).toString("utf8");
  if (name.endsWith(".zst")) {
    const zstd = (zlib as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (!zstd) throw new Error(`${name}: a zstd checkpoint needs Node 22.15 or newer to read`);
    return zstd(bytes).toString("utf8");
  }
  return bytes.toString("utf8");
}

/** project/stack of a key under `.pulumi/stacks/`, or undefined for anything else (`.bak`, `.attrs`, folders). */
function stackOfKey(rest: string, projectMode: boolean): { project: string; stack: string } | undefined {
  const ext = EXTENSIONS.find((e) => rest.endsWith(e));
  if (!ext) return undefined;
  const parts = rest.slice(0, -ext.length).split("/");
  if (projectMode ? parts.length !== 2 : parts.length !== 1) return undefined;
  return projectMode ? { project: parts[0], stack: parts[1] } : { project: "", stack: parts[0] };
}

const lockKey = (project: string, stack: string) => `.pulumi/locks/organization/${project ? `${project}/` : ""}${stack}/`;

/** The blobs of a DIY backend, by key under its root (what gocloud's bucket is to the CLI). */
interface Blobs {
  /** Whether `.pulumi/meta.yaml` is there (project mode). */
  projectMode(): Promise<boolean>;
  /** The keys under a prefix, at any depth. */
  keys(prefix: string): Promise<string[]>;
  /** The bytes of those of `keys` that exist. */
  read(keys: string[]): Promise<Map<string, Buffer>>;
  /** Where a key is, as a lock's `file` names it. */
  where(key: string): string;
  close(): Promise<void>;
}

/** The backend's layout (pkg/backend/diy/store.go, lock.go) over its blobs: the same for every kind of DIY backend. */
function layoutStore(url: string, b: Blobs): StateStore {
  return {
    url,
    async stacks() {
      const pm = await b.projectMode();
      return (await b.keys(STACKS)).flatMap((k) => stackOfKey(k.slice(STACKS.length), pm) ?? []);
    },
    async checkpoints(project, stacks) {
      const base = `${STACKS}${(await b.projectMode()) ? `${project}/` : ""}`;
      const got = await b.read(stacks.flatMap((s) => EXTENSIONS.map((e) => `${base}${s}${e}`)));
      const out = new Map<string, string>();
      for (const s of stacks)
        for (const e of EXTENSIONS) {
          const bytes = got.get(`${base}${s}${e}`);
          if (!bytes) continue;
          out.set(s, checkpointText(e, bytes));
          break;
        }
      return out;
    },
    async locks(project, stack) {
      const keys = (await b.keys(lockKey((await b.projectMode()) ? project : "", stack))).filter((k) => k.endsWith(".json"));
      const got = await b.read(keys);
      return [...got]
        .map(([k, bytes]) => ({ ...(JSON.parse(bytes.toString("utf8")) as Omit<StackLock, "file">), file: b.where(k) }))
        .sort((x, y) => y.timestamp.localeCompare(x.timestamp));
    },
    close: () => b.close(),
  };
}

function fileBlobs(dir: string): Blobs {
  const walk = (sub: string): string[] =>
    fs.existsSync(path.join(dir, sub))
      ? fs
          .readdirSync(path.join(dir, sub), { withFileTypes: true })
          .flatMap((e) => (e.isDirectory() ? walk(`${sub}${e.name}/`) : [`${sub}${e.name}`]))
      : [];
  return {
    projectMode: async () => fs.existsSync(path.join(dir, ".pulumi", "meta.yaml")),
    keys: async (prefix) => walk(prefix),
    async read(keys) {
      const out = new Map<string, Buffer>();
      for (const k of keys) if (fs.existsSync(path.join(dir, k))) out.set(k, fs.readFileSync(path.join(dir, k)));
      return out;
    },
    where: (key) => path.join(dir, key),
    async close() {},
  };
}

/** The table, key prefix and node-postgres connection string of a Pulumi postgres:// backend URL. */
export function postgresBackend(url: string): { table: string; prefix: string; connection: string } {
  // Not `new URL`: a unix-socket URL (`postgres://user@/db?host=/run/…`) has no host, which WHATWG URLs refuse.
  const m = /^postgres:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (!m) throw new Error("PULUMI_BACKEND_URL: not a postgres://[user[:password]@][host][:port][/database][?…] URL");
  const params = new URLSearchParams(m[3] ?? "");
  const table = params.get("table") ?? "pulumi_state";
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table))
    throw new Error(`PULUMI_BACKEND_URL: table ${JSON.stringify(table)} is not a plain table name`);
  params.delete("table");
  const sub = decodeURIComponent(m[2] ?? "").replace(/^\/+/, "");
  const query = params.toString();
  return {
    table,
    prefix: sub ? (sub.endsWith("/") ? sub : `${sub}/`) : "",
    connection: `postgres://${m[1]}${m[2] ?? ""}${query ? `?${query}` : ""}`,
  };
}

function postgresBlobs(url: string): Blobs {
  const { table, prefix, connection } = postgresBackend(url);
  const pool = new Pool({ connectionString: connection, max: 4 });
  pool.on("error", () => undefined);
  const like = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
  const read = async (keys: string[]): Promise<Map<string, Buffer>> => {
    const out = new Map<string, Buffer>();
    for (let i = 0; i < keys.length; i += 1000) {
      const { rows } = await pool.query<{ key: string; b64: string }>(
        `select key, data->>'data' as b64 from ${table} where key = any($1::text[])`,
        [keys.slice(i, i + 1000).map((k) => prefix + k)],
      );
      for (const r of rows) out.set(r.key.slice(prefix.length), Buffer.from(r.b64, "base64"));
    }
    return out;
  };
  let pm: Promise<boolean> | undefined;
  return {
    projectMode: () => (pm ??= read([".pulumi/meta.yaml"]).then((m) => m.size > 0)),
    async keys(sub) {
      const { rows } = await pool.query<{ key: string }>(`select key from ${table} where key like $1`, [`${like(prefix + sub)}%`]);
      return rows.map((r) => r.key.slice(prefix.length));
    },
    read,
    where: (key) => prefix + key,
    close: () => pool.end(),
  };
}

/** The objects of an s3:// backend, or undefined when no static credentials are found (the CLI is asked then). */
function s3Blobs(url: string): Blobs | undefined {
  const at = s3Location(url);
  const credentials = at.anonymous ? undefined : s3Credentials(at.profile);
  if (!at.anonymous && !credentials) return undefined;
  const bucket = new S3Bucket(at, credentials);
  let pm: Promise<boolean> | undefined;
  return {
    projectMode: () => (pm ??= bucket.get(".pulumi/meta.yaml").then((b) => b !== undefined)),
    keys: (sub) => bucket.keys(sub),
    read: (keys) => bucket.getMany(keys),
    where: (key) => `s3://${at.bucket}/${at.prefix}${key}`,
    async close() {},
  };
}

/** The backend read directly, for file://, postgres:// and s3:// DIY backends; undefined for others (the CLI is asked). */
export function stateStore(backendUrl: string | undefined): StateStore | undefined {
  if (!backendUrl) return undefined;
  const dir = fileBackendDir(backendUrl);
  if (dir) return layoutStore(backendUrl, fileBlobs(dir));
  if (backendUrl.startsWith("postgres://")) return layoutStore(backendUrl, postgresBlobs(backendUrl));
  if (backendUrl.startsWith("s3://")) {
    const blobs = s3Blobs(backendUrl);
    return blobs && layoutStore(backendUrl, blobs);
  }
  return undefined;
}

export interface StackLock {
  pid: number;
  username: string;
  hostname: string;
  timestamp: string;
  file: string;
}

export type LockState = { kind: "free" } | { kind: "held"; by: StackLock; alive: boolean | "unknown" } | { kind: "unknown"; why: string };

export interface BackendStack {
  /** As `stack ls --all` names it (on a DIY backend: bare in the workspace's project, `organization/<project>/<stack>` in others). */
  name: string;
  updateInProgress?: boolean;
}

/** Every stack in the backend: read directly from a DIY backend read here, else `pulumi stack ls --all`. */
export async function backendStacks(ws: LocalWorkspace, store?: StateStore): Promise<BackendStack[]> {
  if (store) {
    // Named as `stack ls --all` names them: bare in the workspace's project, qualified in others.
    const here = (await ws.projectSettings()).name;
    return (await store.stacks()).map((s) => ({
      name: !s.project || s.project === here ? s.stack : `organization/${s.project}/${s.stack}`,
    }));
  }
  return (await ws.listStacks({ all: true })).map((s) => ({ name: s.name, updateInProgress: s.updateInProgress }));
}

/** The project and stack of a name as backendStacks gives it. */
export function stackParts(name: string, project: string): { project: string; stack: string } {
  const parts = name.split("/");
  return parts.length === 3
    ? { project: parts[1], stack: parts[2] }
    : parts.length === 2
      ? { project: parts[0], stack: parts[1] }
      : { project, stack: parts[0] };
}

/** The stack's name in its project: the last part of a fully qualified name. */
export const shortName = (name: string): string => name.split("/").pop()!;

/** Whether the process that took a lock is still running (known only on the host that took it). */
function holderAlive(l: StackLock): boolean | "unknown" {
  if (l.hostname !== os.hostname()) return "unknown";
  try {
    process.kill(l.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether an update holds the stack: from `stack ls` when it said, else the backend's lock blobs. */
export async function lockState(store: StateStore | undefined, stack: BackendStack, project: string): Promise<LockState> {
  if (stack.updateInProgress === true)
    return { kind: "held", by: { pid: 0, username: "", hostname: "", timestamp: "", file: "" }, alive: true };
  if (stack.updateInProgress === false) return { kind: "free" };
  if (!store) return { kind: "unknown", why: "cannot read update locks on this backend" };
  const p = stackParts(stack.name, project);
  const [newest] = await store.locks(p.project, p.stack);
  return newest ? { kind: "held", by: newest, alive: holderAlive(newest) } : { kind: "free" };
}

export function describeLock(s: LockState): string {
  if (s.kind === "free") return "not locked";
  if (s.kind === "unknown") return `lock unknown (${s.why})`;
  const b = s.by;
  if (!b.file) return "an update is in progress";
  const alive = s.alive === true ? "still running" : s.alive === false ? "no longer running" : "on another host";
  return `locked by ${b.username}@${b.hostname} pid ${b.pid} since ${b.timestamp} (${alive})`;
}
