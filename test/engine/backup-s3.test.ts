/**
 * Backups to an S3 target through the real engine: the same path as test/engine/backup.test.ts
 * (which uses restic's REST protocol), with restic's S3 backend against a real S3-compatible
 * server on loopback (gofakes3, scripts/dev/standins/s3.ts) and the credentials in the stack's
 * secret `penguinmails-infra:backupEnv` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Kept short:
 * up (the repository made in the bucket), a backup of a mailbox and MailU's database that verify
 * reads, `fleet restore` putting a deleted message back byte for byte, and the fleet's state
 * archive stored in and read back from the same bucket. The rebuild paths are the REST test's.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { devDir, workDirFor, projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { readAll } from "./harness";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { RestBackupTarget } from "../../scripts/dev/standins/backup-target";
import { GoFakeS3 } from "../../scripts/dev/standins/s3";
import { FleetOptions, fleetUp } from "../../scripts/cli/fleet/commands";
import { openTenantStack } from "../../scripts/lib/stacks/stacks";
import { fleetProject } from "../../scripts/lib/stacks/tenants";
import {
  backupServerNow,
  exportState,
  loadStateArchive,
  restoreServer,
  serverConnection,
  stateRepository,
  storeStateArchive,
} from "../../scripts/cli/fleet/recovery";
import { checkBackups } from "../../scripts/lib/verify/backup";
import { run } from "../../providers/ssh/client";
import { standinEnv } from "../../scripts/dev/standins/env";

const KEY = "sim-key-backup-s3-0123456789";
const CF_TOKEN = "sim-cf-token-backup-s3-0123456789";
const BACKEND = `backup-s3-${process.pid}`;
const ZONE = "acme-mail.com";
const MAILBOX = `/mailu/mail/admin@${ZONE}`;
const BUCKET = "pm-backups";
// The same tools as the REST test (restic, the SSH hosts); gofakes3 is built on first use (Go, the module proxy).
const unavailable = SshHostSim.unavailableReason() ?? RestBackupTarget.unavailableReason();
if (unavailable) console.warn(`S3 backup engine tests skipped: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;
jest.setTimeout(15 * 60_000);

maybe("backups to an S3 target (gofakes3)", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let hosts: SshHostSim;
  let s3: GoFakeS3;
  const dir = workDirFor(`backup-s3-${process.pid}`);
  const write = (file: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  };
  const opts = (): FleetOptions => ({ project: fleetProject(dir), concurrency: 2, localBackend: BACKEND });
  const stackOf = () => openTenantStack(fleetProject(dir), "acme", 0, { localBackend: BACKEND }, false);
  const outputsOf = async () =>
    Object.fromEntries(Object.entries(await (await stackOf()).outputs()).map(([k, v]) => [k, v.value])) as {
      servers: Array<{ name: string; mainIp: string; backup: Parameters<typeof checkBackups>[0][0]["backup"] }>;
    };
  const onServer = async (script: string, stdin?: string) => {
    const { connection } = await serverConnection(await stackOf(), "acme", "mx1");
    const r = await run(connection, script, { stdin });
    if (r.code !== 0) throw new Error(`${script}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const messages: Record<string, string> = {
    "cur/1700000001.M1P1.mx1:2,S": "From: a@example.net\r\nTo: admin@acme-mail.com\r\nSubject: one\r\n\r\nfirst\r\n",
    "new/1700000003.M3P1.mx1": `From: c@example.net\r\nTo: admin@acme-mail.com\r\nSubject: three\r\n\r\n${"x".repeat(200_000)}\r\n`,
  };
  let ip = "";

  beforeAll(async () => {
    s3 = await new GoFakeS3({ bucket: BUCKET }).start();
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `backup-s3-${process.pid}`) });
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 150, hosts }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    cf.addZone(ZONE);
    // Each server runs in its own network namespace: the S3 server's loopback port is forwarded into it.
    await hosts.forwardLoopback(s3.port);
    Object.assign(process.env, standinEnv(sim, KEY, cf, CF_TOKEN));
    fs.rmSync(dir, { recursive: true, force: true });
    write(
      "Pulumi.yaml",
      "name: penguinmails-infra\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\nstackConfigDir: stacks\n",
    );
    write("index.js", `module.exports = require(${JSON.stringify(path.relative(dir, path.join(projectRoot, "dist", "stacks")))});\n`);
    const tenant = {
      id: "acme",
      tier: "starter",
      monthlyBudgetUsd: 35,
      zone: ZONE,
      domains: [{ name: ZONE }],
      servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }],
      warmup: "standard",
    };
    write("stacks/Pulumi.acme.yaml", stringify({ config: { "penguinmails-infra:tenant": tenant } }));
    const acme = await openTenantStack(fleetProject(dir), "acme", 0, { localBackend: BACKEND }, true);
    // No password in an s3: URL, so the repository may be plain; the bucket's credentials are secret.
    await acme.setConfig("penguinmails-infra:backup", { value: JSON.stringify({ repository: s3.resticRepository, keepDaily: 3 }) });
    await acme.setConfig("penguinmails-infra:backupEnv", { value: JSON.stringify(s3.env), secret: true });
  });
  afterAll(async () => {
    const s = await stackOf().catch(() => undefined);
    if (s)
      await s
        .destroy()
        .then(() => s.workspace.removeStack("acme"))
        .catch(() => undefined);
    await hosts?.stop();
    await sim?.stop();
    await cf?.stop();
    await s3?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("up makes the server's repository in the bucket; the keys only in the root-only env file, never in state or logs", async () => {
    const [r] = await fleetUp(opts(), ["acme"]);
    expect([r.status, r.error]).toEqual(["ok", undefined]);
    const server = (await outputsOf()).servers[0];
    ip = server.mainIp;
    expect(server.backup!.repository).toBe(`s3:http://127.0.0.1:${s3.port}/${BUCKET}/acme/mx1`);
    expect(server.backup!.access!.env).toEqual(s3.env);
    expect(await s3.keys("acme/mx1/")).toContain("acme/mx1/config");
    expect(hosts.file(ip, "/etc/penguinmails/backup.env")).toContain(`AWS_SECRET_ACCESS_KEY="${s3.secretAccessKey}"`);
    expect(
      fs.statSync(path.join(devDir, "ssh-hosts", `backup-s3-${process.pid}`, ip, "upper/etc/penguinmails/backup.env")).mode & 0o777,
    ).toBe(0o600);
    const state = readAll(path.join(devDir, "backends", BACKEND));
    for (const secret of [s3.secretAccessKey, server.backup!.access!.password]) {
      expect(state.includes(secret)).toBe(false);
      expect(JSON.stringify(hosts.calls(ip)).includes(secret)).toBe(false);
    }
  });

  test("a backup of the mailbox and the admin database to S3; verify reads the bucket with the stack's credentials and passes", async () => {
    const bundle = Object.entries(messages)
      .map(([f, c]) => `${f} ${Buffer.from(c).toString("base64")}`)
      .join("\n");
    await onServer(
      `set -e; mkdir -p ${MAILBOX}/cur ${MAILBOX}/new ${MAILBOX}/tmp /mailu/data
while read -r f data; do printf '%s' "$data" | base64 -d > "${MAILBOX}/$f"; done
sqlite3 /mailu/data/main.db "create table user (email text primary key); insert into user values ('admin@${ZONE}');"`,
      bundle + "\n",
    );
    const r = await backupServerNow(opts(), "acme", "mx1");
    expect([r.ok, r.output]).toEqual([true, expect.stringContaining("backup: done")]);
    expect((await s3.keys("acme/mx1/snapshots/")).length).toBe(1);
    const servers = (await outputsOf()).servers;
    const [check] = await checkBackups(servers);
    expect(check).toMatchObject({ check: "backup", subject: `mx1.${ZONE}`, status: "pass" });
    expect(check.detail).toMatch(/1 snapshot, [\d.]+ MiB stored/);
  });

  test("fleet restore brings a deleted message and the database back from S3, byte for byte", async () => {
    await onServer(`rm -f '${MAILBOX}/cur/1700000001.M1P1.mx1:2,S' /mailu/data/main.db`);
    const r = await restoreServer(opts(), "acme", "mx1");
    expect([r.ok, r.output]).toEqual([true, expect.stringMatching(/restore: done/)]);
    for (const [f, content] of Object.entries(messages)) expect(hosts.file(ip, `${MAILBOX}/${f}`)).toBe(content);
    const db = path.join(devDir, "ssh-hosts", `backup-s3-${process.pid}`, ip, "upper/mailu/data/main.db");
    expect(execFileSync("sqlite3", [db, "select email from user"], { encoding: "utf8" })).toBe(`admin@${ZONE}\n`);
  });

  test("the fleet's state archive goes to the same bucket and comes back", async () => {
    const access = { repository: stateRepository(s3.resticRepository), password: "state-archive-password-s3-0123", env: s3.env };
    const { archive, name, stacks } = await exportState(opts(), ["acme"]);
    expect(stacks).toEqual(["acme"]);
    await storeStateArchive(access, archive, name);
    expect(await s3.keys("state/")).toContain("state/config");
    const { archive: loaded, from } = await loadStateArchive({ access });
    expect(from).toContain(name);
    expect(Object.keys(loaded.stacks)).toEqual(["acme"]);
  });
});
