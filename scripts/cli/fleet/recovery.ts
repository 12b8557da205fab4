/**
 * Backup and recovery for the fleet: a server's backup run now, a server's
 * data restored from a snapshot, and every stack's state exported to (and
 * imported from) a dated archive in a restic repository on the same target
 * as the servers' backups.
 *
 * Servers are reached over SSH with the connection the stack's backup step
 * used (from the stack's state, decrypted by the engine), so these commands
 * need nothing but the backend and its secrets provider.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as zlib from "zlib";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { run } from "../../../providers/ssh/client";
import { SshConnection } from "../../../providers/ssh/client";
import { BACKUP_SCRIPT, RESTORE_SCRIPT } from "../../../components/backup-scripts";
import { ResticAccess, displayRepository, restic, snapshots } from "../../lib/restic";
import { FleetOptions } from "./options";
import { openTenantStack, withoutUpResult } from "../../lib/stacks/stacks";
import { COMMAND_TYPE, StateResource, serverConnection } from "../../lib/stacks/server-connection";

export { serverConnection };
import { runPool } from "./pool";
import { hostwindsFromEnv } from "./orphans";
import { reinstallAndWait } from "../../../providers/hostwinds/reinstall";
import { OS_IMAGE_TYPE } from "../../../providers/hostwinds";

/**
 * For `verify`'s HELO check: each server reached over SSH as the install's network step reaches it
 * (the step that writes the outbound relay), with what to mask in its output.
 */
export const relayAccess =
  (stack: Stack, tenant: string) =>
  async (server: { name: string }): Promise<{ connection: SshConnection; secrets: string[] }> => {
    const { connection, redact } = await serverConnection(stack, tenant, server.name.split(".")[0], "mailu-network");
    return { connection, secrets: [...redact, connection.password ?? "", connection.privateKey ?? ""].filter(Boolean) };
  };

export interface ServerRun {
  tenant: string;
  server: string;
  ok: boolean;
  output: string;
  ms: number;
}

async function runOnServer(o: FleetOptions, tenant: string, server: string, script: string, timeoutMs: number): Promise<ServerRun> {
  const t0 = Date.now();
  const stack = await openTenantStack(o.project, tenant, 0, o, false);
  const { connection, redact } = await serverConnection(stack, tenant, server);
  o.log?.(`${tenant}/${server}: ${script} on ${connection.host}`);
  const r = await run(connection, script, { secrets: [...redact, connection.password ?? "", connection.privateKey ?? ""], timeoutMs });
  return { tenant, server, ok: r.code === 0, output: `${r.stdout}${r.stderr}`.trim(), ms: Date.now() - t0 };
}

/** Runs the server's backup now (what its timer runs on schedule). */
export const backupServerNow = (o: FleetOptions, tenant: string, server: string) =>
  runOnServer(o, tenant, server, BACKUP_SCRIPT, 60 * 60_000);

/** Restores a server's MailU data from a snapshot (default its newest); MailU is stopped meanwhile. */
export async function restoreServer(o: FleetOptions, tenant: string, server: string, snapshot = "latest"): Promise<ServerRun> {
  if (!/^(latest|[0-9a-f]{8,64})$/.test(snapshot))
    throw new Error(`--snapshot must be 'latest' or a snapshot id (8-64 hex digits), not '${snapshot}'`);
  return runOnServer(o, tenant, server, `${RESTORE_SCRIPT} ${snapshot}`, 4 * 60 * 60_000);
}

// ---- state ----------------------------------------------------------------------------------

/** One archive of the fleet's state: every stack's checkpoint as `pulumi stack export` writes it (secrets stay ciphertext). */
export interface StateArchive {
  kind: "penguinmails-state";
  createdAt: string;
  project: string;
  stacks: Record<string, unknown>;
}

/** The CLI of a stack's workspace, with its environment (backend, home, secrets provider). */
async function pulumiCli(stack: Stack, args: string[]): Promise<string> {
  const ws = stack.workspace as LocalWorkspace;
  const env = { ...process.env, ...(ws.pulumiHome ? { PULUMI_HOME: ws.pulumiHome } : {}), ...ws.envVars };
  return new Promise((resolve, reject) =>
    execFile(
      ws.pulumiCommand.command,
      [...args, "--non-interactive"],
      { cwd: ws.workDir, env, maxBuffer: 512 * 1024 * 1024 },
      (e, stdout, stderr) =>
        e
          ? reject(new Error(`pulumi ${args.slice(0, 2).join(" ")}: ${String(stderr).trim().split("\n").pop() ?? e.message}`))
          : resolve(stdout),
    ),
  );
}

export const archiveName = (at: Date) => `penguinmails-state-${at.toISOString().replace(/[:.]/g, "-")}.json.gz`;
export const stateRepository = (base: string) => `${base.replace(/\/+$/, "")}/state${base.startsWith("rest:") ? "/" : ""}`;

/** Exports every tenant's checkpoint (without decrypting its secrets) into one gzipped archive. */
export async function exportState(
  o: FleetOptions,
  tenants: string[],
): Promise<{ archive: Buffer; name: string; stacks: string[]; missing: string[] }> {
  const results = await runPool(
    tenants,
    o.concurrency ?? 4,
    async (tenant, slot) => {
      const stack = await openTenantStack(o.project, tenant, slot, o, false);
      return JSON.parse(await pulumiCli(stack, ["stack", "export", "--stack", tenant])) as unknown;
    },
    o.onProgress,
  );
  const missing = results.filter((r) => !r.ok && /has no stack yet/.test(r.error ?? "")).map((r) => r.name);
  const failed = results.filter((r) => !r.ok && !missing.includes(r.name));
  if (failed.length) throw new Error(`could not export ${failed.map((f) => `${f.name} (${f.error})`).join(", ")}; no archive was written`);
  const at = new Date();
  const archive: StateArchive = {
    kind: "penguinmails-state",
    createdAt: at.toISOString(),
    project: o.project.root,
    stacks: Object.fromEntries(results.filter((r) => r.ok).map((r) => [r.name, r.value])),
  };
  return { archive: zlib.gzipSync(JSON.stringify(archive)), name: archiveName(at), stacks: Object.keys(archive.stacks), missing };
}

/** Stores an archive as a snapshot of the state repository (made on first use). */
export async function storeStateArchive(access: ResticAccess, archive: Buffer, name: string): Promise<string> {
  await restic(access, ["cat", "config"]).catch(async (e: Error) => {
    if (/wrong password/i.test(e.message)) throw e;
    await restic(access, ["init"]);
  });
  const out = (
    await restic(
      access,
      ["backup", "--json", "--tag", "penguinmails-state", "--host", "penguinmails-fleet", "--stdin", "--stdin-filename", name],
      { stdin: archive },
    )
  )
    .toString()
    .trim()
    .split("\n");
  const summary = JSON.parse(out[out.length - 1]) as { snapshot_id?: string };
  return summary.snapshot_id?.slice(0, 8) ?? "?";
}

/** Reads an archive: a file, or a snapshot (default the newest) of the state repository. */
export async function loadStateArchive(source: {
  file?: string;
  access?: ResticAccess;
  snapshot?: string;
}): Promise<{ archive: StateArchive; from: string }> {
  let raw: Buffer;
  let from: string;
  if (source.file) {
    raw = fs.readFileSync(source.file);
    from = source.file;
  } else if (source.access) {
    const list = await snapshots(source.access, ["--tag", "penguinmails-state"]);
    const snap = source.snapshot ? list.find((s) => s.id.startsWith(source.snapshot!)) : list[list.length - 1];
    if (!snap)
      throw new Error(`no state archive${source.snapshot ? ` ${source.snapshot}` : ""} in ${displayRepository(source.access.repository)}`);
    raw = await restic(source.access, ["dump", snap.id, snap.paths[0]]);
    from = `${displayRepository(source.access.repository)} snapshot ${snap.short_id} (${snap.paths[0]})`;
  } else throw new Error("no archive given: --file FILE or a state repository");
  const archive = JSON.parse(zlib.gunzipSync(raw).toString()) as StateArchive;
  if (archive.kind !== "penguinmails-state") throw new Error(`${from} is not a penguinmails state archive`);
  return { archive, from };
}

/**
 * Imports each stack of the archive into the current backend. The backend must not hold these
 * stacks with resources already (restore into an empty backend; an existing stack is never overwritten).
 */
export async function importState(o: FleetOptions, archive: StateArchive, tenants?: string[]): Promise<string[]> {
  const names = Object.keys(archive.stacks).filter((t) => !tenants?.length || tenants.includes(t));
  const results = await runPool(
    names,
    o.concurrency ?? 4,
    async (tenant, slot) => {
      const stack = await openTenantStack(o.project, tenant, slot, o, true);
      const existing = JSON.parse(await pulumiCli(stack, ["stack", "export", "--stack", tenant])) as {
        deployment?: { resources?: unknown[] };
      };
      if (existing.deployment?.resources?.length)
        throw new Error(
          `tenant ${tenant} already has ${existing.deployment.resources.length} resources in this backend; restore-state imports only into an empty backend`,
        );
      const file = `${fs.mkdtempSync("/tmp/penguinmails-state-")}/${tenant}.json`;
      fs.writeFileSync(file, JSON.stringify(archive.stacks[tenant]), { mode: 0o600 });
      try {
        await pulumiCli(stack, ["stack", "import", "--stack", tenant, "--file", file]);
      } finally {
        fs.rmSync(file.slice(0, file.lastIndexOf("/")), { recursive: true, force: true });
      }
      return tenant;
    },
    o.onProgress,
  );
  const failed = results.filter((r) => !r.ok);
  if (failed.length) throw new Error(`could not import ${failed.map((f) => `${f.name} (${f.error})`).join(", ")}`);
  return names;
}

// ---- rebuild in place ------------------------------------------------------------------------

export interface RebuildResult {
  tenant: string;
  server: string;
  serviceId: number;
  mainIp: string;
  ms: number;
}

/**
 * Rebuilds a broken server's OS on the same VPS (Hostwinds' reinstall, keeping its IPs, so their
 * reputation and warm-up stay), then reruns the server's SSH steps on the fresh disk: the backup
 * step first, which restores the newest snapshot before MailU starts.
 */
export async function rebuildInPlace(o: FleetOptions, tenant: string, server: string): Promise<RebuildResult> {
  const t0 = Date.now();
  const stack = await openTenantStack(o.project, tenant, 0, o, false);
  const resources = ((await stack.exportStack()).deployment.resources ?? []) as Array<StateResource & { id?: string }>;
  const instance = resources.find((r) => r.type === "pulumi-nodejs:dynamic/hostwinds:Instance" && r.urn.endsWith(`::${server}`));
  if (!instance?.id)
    throw new Error(`tenant ${tenant}: no server ${server} in the stack's state (servers are named as in the tenant config)`);
  const serviceId = Number(instance.id);
  // The image it runs: the last one an image change installed (hostwinds.OsImage), else the one it was bought with.
  const os = resources.find((r) => r.type === OS_IMAGE_TYPE && r.urn.endsWith(`::${server}-os`));
  const template = String(os?.outputs?.image || instance.outputs?.image || instance.outputs?.template || "");
  const steps = resources.filter((r) => r.type === COMMAND_TYPE && r.urn.includes(`::${server}-mailu-`)).map((r) => r.urn);
  if (!steps.some((u) => u.endsWith(`::${server}-mailu-backup`)))
    throw new Error(
      `tenant ${tenant}: server ${server} has no backup step; a reinstall would lose its data. Set penguinmails-infra:backup and run up first.`,
    );
  const { client } = hostwindsFromEnv();
  o.log?.(`${tenant}/${server}: reinstalling server ${serviceId} from image ${template} (same VPS, same IPs)`);
  const back = await reinstallAndWait(client, serviceId, template, { log: o.log });
  o.log?.(
    `${tenant}/${server}: server ${serviceId} is ACTIVE again at ${back.main_ip}; rerunning its ${steps.length} SSH steps (backup and restore first)`,
  );
  await withoutUpResult(stack, { refresh: true, replace: steps, onOutput: () => undefined });
  return { tenant, server, serviceId, mainIp: back.main_ip ?? "", ms: Date.now() - t0 };
}
