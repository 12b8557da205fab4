/** Shared pieces of the engine tests: reading state folders and finding processes. */
import * as fs from "fs";
import * as path from "path";
import type { Stack } from "@pulumi/pulumi/automation";
import { backendFingerprint, serverName } from "../../providers/hostwinds/inputs";
import { descendants } from "../../scripts/dev/processes";

/** Every file under a folder, read as text (state files, backups, history). */
export function readAll(dir: string): string {
  if (!fs.existsSync(dir)) return "";
  let out = "";
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out += e.isDirectory() ? readAll(p) : fs.readFileSync(p).toString("utf8");
  }
  return out;
}

/** Whether a process is still running (a zombie waiting to be reaped has ended). */
export function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Pids of the descendants of `pid` whose command line contains `needle`. */
export function descendantsMatching(pid: number, needle: string): number[] {
  return descendants(pid).filter((c) => {
    try {
      return fs.readFileSync(`/proc/${c}/cmdline`, "utf8").includes(needle);
    } catch {
      return false; // gone
    }
  });
}

/**
 * The owner mark (providers/hostwinds/inputs.ts) a server of `tenant` named `server` gets in this
 * stack: from the backend its workspace points at, its project and its name.
 */
export async function serverMarkOf(stack: Stack, tenant: string, server = "mx1"): Promise<string> {
  const project = (await stack.workspace.projectSettings()).name;
  return serverName({ backend: backendFingerprint(stack.workspace.envVars), project, stack: stack.name, tenant, server });
}

/**
 * How long one engine test may run before Jest gives up on it. A quiet machine needs a few minutes
 * for the longest (a first `up` that installs MailU); at load 30 on 2 cores that `up` took over 10.
 * A ceiling, not a wait: a test ends as soon as it is done.
 */
export const ENGINE_TEST_CEILING_MS = 40 * 60_000;
