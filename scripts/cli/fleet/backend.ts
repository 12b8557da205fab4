/**
 * What the state backend knows about every stack in it, whatever config files say: the stacks
 * (`pulumi stack ls --all`, every project), each one's state, and whether an update holds it.
 * The owner set of `fleet orphans` and the lock `fleet recover` clears both come from here.
 *
 * Whether an update holds a stack: Pulumi Cloud says so in `stack ls` (`updateInProgress`); a DIY
 * backend keeps one lock file per running update, `<backend>/.pulumi/locks/<org>/<project>/<stack>/<id>.json`
 * holding the pid, user and host of the CLI that took it (pkg/backend/diy/lock.go). Only file://
 * DIY backends are read here; on another DIY backend (s3://, gs://, azblob://) the answer is
 * "unknown", and callers treat unknown as locked.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { fileBackendDir } from "./checkpoints";

export interface StackLock {
  pid: number;
  username: string;
  hostname: string;
  timestamp: string;
  file: string;
}

export type LockState = { kind: "free" } | { kind: "held"; by: StackLock; alive: boolean | "unknown" } | { kind: "unknown"; why: string };

export interface BackendStack {
  /** As `stack ls --all` names it (`organization/<project>/<stack>` on a DIY backend). */
  name: string;
  updateInProgress?: boolean;
}

export async function backendStacks(ws: LocalWorkspace): Promise<BackendStack[]> {
  return (await ws.listStacks({ all: true })).map((s) => ({ name: s.name, updateInProgress: s.updateInProgress }));
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

/** The lock files of a stack on a file:// backend, newest first. */
function lockFiles(backendUrl: string, stack: BackendStack, project: string): StackLock[] {
  const root = path.join(fileBackendDir(backendUrl)!, ".pulumi", "locks");
  const parts = stack.name.split("/");
  const fq = parts.length === 3 ? parts : parts.length === 2 ? ["organization", ...parts] : ["organization", project, parts[0]];
  const dir = path.join(root, ...fq);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ ...(JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Omit<StackLock, "file">), file: path.join(dir, f) }))
    .sort((a, b) => b.timestamp.localeCompare(a.timestamp));
}

export function lockState(backendUrl: string | undefined, stack: BackendStack, project: string): LockState {
  if (stack.updateInProgress === true)
    return { kind: "held", by: { pid: 0, username: "", hostname: "", timestamp: "", file: "" }, alive: true };
  if (stack.updateInProgress === false) return { kind: "free" };
  if (!backendUrl?.startsWith("file://")) return { kind: "unknown", why: `cannot read update locks on ${backendUrl ?? "this backend"}` };
  const [newest] = lockFiles(backendUrl, stack, project);
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
