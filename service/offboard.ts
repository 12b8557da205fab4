/**
 * Offboarding's own steps, before the engine's `destroy`: a final backup of every server (the
 * restic step its backup timer runs daily, run now over SSH as `fleet backup` runs it) and of the
 * stack's state (its checkpoint as `pulumi stack export` writes it, secrets still ciphertext),
 * and what the tenant holds, so the request's result can name every server and IP released.
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { Stack } from "@pulumi/pulumi/automation";
import { BACKUP_SCRIPT } from "../components/backup-scripts";
import { run } from "../providers/ssh/client";
import { serverConnection } from "../scripts/lib/stacks/server-connection";

export interface FinalBackup {
  server: string;
  /** done: a snapshot was saved; none: the server has no backup configured (penguinmails-infra:backup). */
  status: "done" | "none" | "failed";
  repository?: string;
  /** The snapshot's id as restic printed it (`snapshot <id> saved`), for `restic restore <id>` or `fleet restore --snapshot`. */
  snapshot?: string;
  detail: string;
}

/** The id in restic's `snapshot 1a2b3c4d saved` line (restic backup's summary; cmd_backup.go prints it unless --quiet). */
export function savedSnapshot(output: string): string | undefined {
  return /^snapshot ([0-9a-f]{8,64}) saved$/m.exec(output)?.[1];
}

/** Runs each server's backup now; a server without a backup step says so (nothing to run). */
export async function finalBackups(
  stack: Stack,
  tenant: string,
  servers: Array<{ server: string; repository?: string }>,
): Promise<FinalBackup[]> {
  const out: FinalBackup[] = [];
  for (const s of servers) {
    let access;
    try {
      access = await serverConnection(stack, tenant, s.server);
    } catch (e) {
      out.push({ server: s.server, status: "none", detail: (e as Error).message });
      continue;
    }
    const { connection, redact } = access;
    const r = await run(connection, BACKUP_SCRIPT, {
      secrets: [...redact, connection.password ?? "", connection.privateKey ?? ""],
      timeoutMs: 60 * 60_000,
    }).catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
    const last = `${r.stdout}${r.stderr}`.trim().split("\n").pop() ?? "";
    const snapshot = r.code === 0 ? savedSnapshot(r.stdout) : undefined;
    out.push({
      server: s.server,
      status: r.code === 0 ? "done" : "failed",
      ...(s.repository ? { repository: s.repository } : {}),
      ...(snapshot ? { snapshot } : {}),
      detail:
        r.code === 0 ? `a final snapshot of MailU's data saved${snapshot ? ` (snapshot ${snapshot})` : ""}` : `the backup failed: ${last}`,
    });
  }
  return out;
}

/** The stack's checkpoint, gzipped into `dir` (named by tenant and time); returns the file. */
export async function archiveStackState(stack: Stack, dir: string, tenant: string, at = new Date()): Promise<string> {
  const state = await stack.exportStack();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${tenant}-${at.toISOString().replace(/[:.]/g, "-")}.state.json.gz`);
  fs.writeFileSync(file, zlib.gzipSync(JSON.stringify(state)), { mode: 0o600 });
  return file;
}

/** The servers of the outputs with their backup repositories (no password in it: serverOutput leaves it out). */
export function serversToBackUp(outputs: Record<string, unknown>): Array<{ server: string; repository?: string }> {
  const servers = (outputs.servers ?? []) as Array<{ name: string; backup?: { repository?: string } }>;
  return servers.map((s) => ({ server: s.name.split(".")[0], repository: s.backup?.repository }));
}
