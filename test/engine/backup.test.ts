/**
 * Backups and disaster recovery through the real engine: a tenant's server
 * backs its MailU data up with the real restic to a real restic REST target
 * (rclone serve restic on loopback); verify reads the repository; the
 * server is terminated behind the stack's back, `up --refresh` rebuilds it
 * and its newest snapshot comes back before MailU starts: the mailbox files,
 * the admin database and the DKIM key byte for byte, DNS at the new IP. Then
 * the fleet's state goes to a dated archive on the same target and comes
 * back into an empty backend with no change on preview.
 *
 * Most of it is waiting on the servers' installs over SSH (each rebuild installs again), so the
 * servers' tests run in two lanes side by side (`test.concurrent`; Jest runs a describe's
 * concurrent tests together, between its other tests): acme's (backups, a failed one, the loss
 * and rebuild, restore) and carol's (the rebuild on the same VPS, the image change). A lane's
 * tests run one after another in their order (`inLane`); each judges only its own server's
 * commands and ledger. bravo (no MailU) is in the state archive only.
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
import { FleetOptions, fleetUp } from "../../scripts/cli/fleet/commands";
import { openTenantStack } from "../../scripts/lib/stacks/stacks";
import { fleetProject } from "../../scripts/lib/stacks/tenants";
import {
  backupServerNow,
  exportState,
  importState,
  loadStateArchive,
  rebuildInPlace,
  restoreServer,
  serverConnection,
  stateRepository,
  storeStateArchive,
} from "../../scripts/cli/fleet/recovery";
import { checkBackups } from "../../scripts/lib/verify/backup";
import { parseServerName, tenantTag } from "../../providers/hostwinds/inputs";
import { run } from "../../providers/ssh/client";
import { standinEnv } from "../../scripts/dev/standins/env";

const KEY = "sim-key-backup-0123456789";
const CF_TOKEN = "sim-cf-token-backup-0123456789";
const BACKEND = `backup-${process.pid}`;
const ZONE = "acme-mail.com";
const mailbox = (t: string) => `/mailu/mail/admin@${t}-mail.com`;
const dkimKey = (t: string) => `/mailu/dkim/${t}-mail.com.pm1.key`;
const MAILBOX = mailbox("acme");
/** Tenants with MailU and backups (each its own server and lane); bravo has neither. */
const SERVED = ["acme", "carol"];
const TENANTS = ["acme", "bravo", "carol"];
const unavailable = SshHostSim.unavailableReason() ?? RestBackupTarget.unavailableReason();
if (unavailable) console.warn(`backup engine tests skipped: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;
// A lane's last test waits for the ones before it in its lane.
jest.setTimeout(20 * 60_000);

/** Tests that run one after another, in the order they are defined, beside another lane's. */
function inLane() {
  let previous: Promise<void> = Promise.resolve();
  return (fn: () => Promise<void>) => {
    const after = previous;
    let done!: () => void;
    previous = new Promise<void>((r) => (done = r));
    return async () => {
      try {
        await after;
        await fn();
      } finally {
        done();
      }
    };
  };
}

const tenant = (id: string, sendingIps: number) => ({
  id,
  tier: "starter",
  monthlyBudgetUsd: 35,
  zone: `${id}-mail.com`,
  domains: [{ name: `${id}-mail.com` }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps }],
  warmup: "standard",
});

maybe("backups and disaster recovery", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let hosts: SshHostSim;
  /** The commands run on the server at `ip`, from the `since`-th command the hosts saw. */
  const commandsOn = (ip: string, since = 0) =>
    hosts.execs
      .slice(since)
      .filter((e) => e.ip === ip)
      .map((e) => e.command);
  let target: RestBackupTarget;
  const dir = workDirFor(`backup-${process.pid}`);
  const write = (file: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  };
  const opts = (backend = BACKEND): FleetOptions => ({ project: fleetProject(dir), concurrency: 3, localBackend: backend });
  const stackOf = (t: string, backend = BACKEND) => openTenantStack(fleetProject(dir), t, 0, { localBackend: backend }, false);
  const outputsOf = async (t: string) =>
    Object.fromEntries(Object.entries(await (await stackOf(t)).outputs()).map(([k, v]) => [k, v.value])) as {
      servers: Array<{ name: string; mainIp: string; serviceId: number; backup: Parameters<typeof checkBackups>[0][0]["backup"] }>;
      sendingIps: string[];
    };
  /** A command on the tenant's server (acme's unless named), over SSH, as root. */
  const onServer = async (script: string, stdin?: string, t = "acme") => {
    const { connection } = await serverConnection(await stackOf(t), t, "mx1");
    const r = await run(connection, script, { stdin });
    if (r.code !== 0) throw new Error(`${script}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const messages: Record<string, string> = {
    "cur/1700000001.M1P1.mx1:2,S": "From: a@example.net\r\nTo: admin@acme-mail.com\r\nSubject: one\r\n\r\nfirst\r\n",
    "cur/1700000002.M2P1.mx1:2,S": "From: b@example.net\r\nTo: admin@acme-mail.com\r\nSubject: two\r\n\r\nsecond\r\n",
    "new/1700000003.M3P1.mx1": `From: c@example.net\r\nTo: admin@acme-mail.com\r\nSubject: three\r\n\r\n${"x".repeat(200_000)}\r\n`,
  };
  let firstIp = "";
  let dkimBefore = "";
  let carolDkim = "";
  /** The stand-in's ledger entries of the tenant's servers (the ones it holds now) from `from` on. */
  const ledgerOf = (t: string, from: number) => {
    const mine = new Set(
      sim
        .inventory(KEY)
        .filter((x) => parseServerName(x.name)?.tenantTag === tenantTag(t))
        .map((x) => x.serviceId),
    );
    return sim
      .ledger(KEY)
      .slice(from)
      .filter((e) => mine.has(e.serviceId))
      .map((e) => [e.kind, e.event, e.serviceId]);
  };
  /** The mailbox's messages and the admin database put on the tenant's server. */
  const seedMailbox = (t: string) =>
    onServer(
      `set -e; mkdir -p ${mailbox(t)}/cur ${mailbox(t)}/new ${mailbox(t)}/tmp /mailu/data
while read -r f data; do printf '%s' "$data" | base64 -d > "${mailbox(t)}/$f"; done
sqlite3 /mailu/data/main.db "create table user (email text primary key); insert into user values ('admin@${t}-mail.com'), ('sales@${t}-mail.com');"`,
      Object.entries(messages)
        .map(([f, c]) => `${f} ${Buffer.from(c).toString("base64")}`)
        .join("\n") + "\n",
      t,
    );
  const acmeLane = inLane();
  const carolLane = inLane();

  beforeAll(async () => {
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `backup-${process.pid}`) });
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 150, hosts }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    for (const t of TENANTS) cf.addZone(`${t}-mail.com`);
    target = await new RestBackupTarget({ dir: path.join(devDir, "backup-targets", `backup-${process.pid}`) }).start();
    // Each server runs in its own network namespace: the target's loopback port is forwarded into it.
    await hosts.forwardLoopback(Number(/:(\d+)\/$/.exec(target.repository)![1]));
    Object.assign(process.env, standinEnv(sim, KEY, cf, CF_TOKEN));
    fs.rmSync(dir, { recursive: true, force: true });
    write(
      "Pulumi.yaml",
      "name: penguinmails-infra\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\nstackConfigDir: stacks\n",
    );
    write("index.js", `module.exports = require(${JSON.stringify(path.relative(dir, path.join(projectRoot, "dist", "stacks")))});\n`);
    write("stacks/Pulumi.acme.yaml", stringify({ config: { "penguinmails-infra:tenant": tenant("acme", 2) } }));
    write("stacks/Pulumi.carol.yaml", stringify({ config: { "penguinmails-infra:tenant": tenant("carol", 1) } }));
    write(
      "stacks/Pulumi.bravo.yaml",
      stringify({ config: { "penguinmails-infra:installMailu": false, "penguinmails-infra:tenant": tenant("bravo", 1) } }),
    );
    // The repository URL carries the target's password, so it is secret config.
    for (const t of SERVED) {
      const s = await openTenantStack(fleetProject(dir), t, 0, { localBackend: BACKEND }, true);
      await s.setConfig("penguinmails-infra:backup", {
        value: JSON.stringify({ repository: target.repository, keepDaily: 3, maxAgeHours: 26 }),
        secret: true,
      });
    }
  });
  afterAll(async () => {
    await Promise.all(
      TENANTS.map(async (t) => {
        const s = await stackOf(t).catch(() => undefined);
        if (s)
          await s
            .destroy()
            .then(() => s.workspace.removeStack(t))
            .catch(() => undefined);
        const restored = await stackOf(t, `${BACKEND}-restored`).catch(() => undefined);
        if (restored) await restored.workspace.removeStack(t, { force: true }).catch(() => undefined);
      }),
    );
    await hosts?.stop();
    await sim?.stop();
    await cf?.stop();
    await target?.stop();
  });

  test("up installs the backup step before MailU: restic settings root-only, the timer on, the repository made; no secret leaks", async () => {
    const [acme, bravo, carol] = await fleetUp(opts(), TENANTS);
    expect([acme.status, acme.error, bravo.status, carol.status, carol.error]).toEqual(["ok", undefined, "ok", "ok", undefined]);
    const out = await outputsOf("acme");
    firstIp = out.servers[0].mainIp;
    const backup = out.servers[0].backup!;
    expect(backup.repository).toMatch(/^rest:http:\/\/127\.0\.0\.1:\d+\/acme\/mx1\/$/); // no password in the plain output
    expect(backup.access!.repository).toBe(`${target.repository}acme/mx1/`);
    expect(hosts.file(firstIp, "/etc/penguinmails/backup.password")).toBe(backup.access!.password);
    expect(
      fs.statSync(path.join(devDir, "ssh-hosts", `backup-${process.pid}`, firstIp, "upper/etc/penguinmails/backup.env")).mode & 0o777,
    ).toBe(0o600);
    const systemd = hosts.state<{ enabled: string[]; active: string[] }>(firstIp, "systemd")!;
    expect(systemd.enabled).toContain("penguinmails-backup.timer");
    expect(systemd.active).toContain("penguinmails-backup.timer");
    expect(fs.existsSync(path.join(devDir, "backup-targets", `backup-${process.pid}`, "acme/mx1/config"))).toBe(true);
    // The backup step ran before MailU's files and containers.
    const cmds = commandsOn(firstIp).map((c) =>
      c.includes("restic") ? "backup" : c.includes("up -d --remove-orphans") ? "mailu" : "other",
    );
    expect(cmds.indexOf("backup")).toBeLessThan(cmds.indexOf("mailu"));
    const state = readAll(path.join(devDir, "backends", BACKEND));
    for (const secret of [backup.access!.password, target.password]) {
      expect(state.includes(secret)).toBe(false);
      expect(JSON.stringify(hosts.calls(firstIp)).includes(secret)).toBe(false);
    }
    dkimBefore = hosts.file(firstIp, `/mailu/dkim/${ZONE}.pm1.key`)!;
    expect(dkimBefore).toMatch(/BEGIN PRIVATE KEY/);
  });

  test.concurrent(
    "a backup of the mailbox and the admin database; verify reads the repository and passes",
    acmeLane(async () => {
      await seedMailbox("acme");
      const r = await backupServerNow(opts(), "acme", "mx1");
      expect([r.ok, r.output]).toEqual([true, expect.stringContaining("backup: done")]);
      const [check] = await checkBackups((await outputsOf("acme")).servers);
      expect(check).toMatchObject({ check: "backup", subject: `mx1.${ZONE}`, status: "pass" });
      expect(check.detail).toMatch(/1 snapshot, [\d.]+ MiB stored/);
    }),
  );

  test.concurrent(
    "a broken server rebuilt on the same VPS (Hostwinds' reinstall): same IPs, a fresh disk, the data back before MailU starts",
    carolLane(async () => {
      // carol's server, in its own lane: its mail and a backup of it first
      const before = await outputsOf("carol");
      const ip = before.servers[0].mainIp;
      await seedMailbox("carol");
      expect((await backupServerNow(opts(), "carol", "mx1")).ok).toBe(true);
      const dkim = (carolDkim = hosts.file(ip, dkimKey("carol"))!);
      expect(dkim).toMatch(/BEGIN PRIVATE KEY/);
      await onServer("touch /root/only-on-the-old-disk", undefined, "carol");
      const ledger = sim.ledger(KEY).length;
      const execs = hosts.execs.length;
      const r = await rebuildInPlace(opts(), "carol", "mx1");
      expect([r.serviceId, r.mainIp]).toEqual([before.servers[0].serviceId, ip]);
      const after = await outputsOf("carol");
      expect([after.servers[0].mainIp, after.sendingIps]).toEqual([ip, before.sendingIps]);
      expect(hosts.file(ip, "/root/only-on-the-old-disk")).toBeUndefined();
      for (const [f, content] of Object.entries(messages)) expect(hosts.file(ip, `${mailbox("carol")}/${f}`)).toBe(content);
      expect(hosts.file(ip, dkimKey("carol"))).toBe(dkim);
      const cmds = commandsOn(ip, execs);
      expect(cmds.findIndex((c) => c.includes("restic"))).toBeLessThan(cmds.findIndex((c) => c.includes("up -d --remove-orphans")));
      // Nothing bought or released for carol: the ledger shows the reinstall of that server only.
      expect(ledgerOf("carol", ledger)).toEqual([["server", "reinstalled", before.servers[0].serviceId]]);
    }),
  );

  test.concurrent(
    "a failed backup is reported: the run fails, and verify fails once the newest snapshot is older than the limit",
    acmeLane(async () => {
      await onServer("cp /etc/penguinmails/backup.password /root/pw && echo wrong-password > /etc/penguinmails/backup.password");
      const r = await backupServerNow(opts(), "acme", "mx1");
      expect(r.ok).toBe(false);
      expect(JSON.parse(hosts.file(firstIp, "/var/lib/penguinmails/backup-status.json")!)).toMatchObject({ ok: false });
      await onServer("mv /root/pw /etc/penguinmails/backup.password");
      const servers = (await outputsOf("acme")).servers;
      const [later] = await checkBackups(servers, new Date(Date.now() + 27 * 3_600_000));
      expect(later).toMatchObject({ status: "fail", detail: expect.stringMatching(/older|limit 26 h/) });
      const [wrong] = await checkBackups([
        { ...servers[0], backup: { ...servers[0].backup!, access: { ...servers[0].backup!.access!, password: "not-it" } } },
      ]);
      expect(wrong).toMatchObject({ status: "fail", detail: expect.stringMatching(/cannot be read: .*wrong password/) });
      expect(wrong.detail).not.toContain(target.password);
    }),
  );

  test.concurrent(
    "the server is lost behind the stack's back; up --refresh rebuilds it and restores the mailbox, database and DKIM key byte for byte, DNS at the new IP",
    acmeLane(async () => {
      const before = await outputsOf("acme");
      const body = new URLSearchParams({ action: "terminate", API: KEY, serviceid: String(before.servers[0].serviceId) });
      await fetch(sim.url, { method: "POST", body });
      expect(hosts.addresses()).not.toContain(firstIp);
      const lines: string[] = [];
      const [r] = await fleetUp({ ...opts(), refresh: true, log: (l) => lines.push(l) }, ["acme"]);
      expect([r.status, r.error]).toEqual(["ok", undefined]);
      const after = await outputsOf("acme");
      const ip = after.servers[0].mainIp;
      expect(ip).not.toBe(firstIp);
      expect(lines.join("\n")).toMatch(/server mx1\.acme-mail\.com was rebuilt as a new server .*warm-up starts over/);
      for (const [f, content] of Object.entries(messages)) expect(hosts.file(ip, `${MAILBOX}/${f}`)).toBe(content);
      expect(hosts.file(ip, `/mailu/dkim/${ZONE}.pm1.key`)).toBe(dkimBefore);
      const db = path.join(devDir, "ssh-hosts", `backup-${process.pid}`, ip, "upper/mailu/data/main.db");
      expect(execFileSync("sqlite3", [db, "select email from user order by email"], { encoding: "utf8" })).toBe(
        `admin@${ZONE}\nsales@${ZONE}\n`,
      );
      expect(cf.records(ZONE).find((x) => x.type === "A" && x.name === `mx1.${ZONE}`)?.content).toBe(ip);
      const spf = cf.records(ZONE).find((x) => x.type === "TXT" && x.name === ZONE)!.content;
      for (const x of after.sendingIps) expect(spf).toContain(`ip4:${x}`);
      // The restore happened before MailU's containers started.
      const cmds = commandsOn(ip);
      expect(cmds.findIndex((c) => c.includes("restic"))).toBeLessThan(cmds.findIndex((c) => c.includes("up -d --remove-orphans")));
      // Backups go on from the new server into the same repository; retention keeps one snapshot a day (keepDaily).
      // Debian 13's restic (0.18) also keeps the oldest snapshot while fewer days than keepDaily exist
      // ("oldest daily snapshot" in `restic forget --dry-run`); bookworm's 0.14 does not: one or two.
      const [first] = await checkBackups(after.servers);
      expect((await backupServerNow(opts(), "acme", "mx1")).ok).toBe(true);
      const [next] = await checkBackups(after.servers);
      expect([next.status, next.detail.split(" ")[2] === first.detail.split(" ")[2], next.detail]).toEqual([
        "pass",
        false,
        expect.stringMatching(/, [12] snapshots?,/),
      ]);
    }),
  );

  test.concurrent(
    "fleet restore puts a snapshot back on a running server (MailU stopped meanwhile)",
    acmeLane(async () => {
      const ip = (await outputsOf("acme")).servers[0].mainIp;
      await onServer(`rm -f '${MAILBOX}/cur/1700000001.M1P1.mx1:2,S'`);
      const r = await restoreServer(opts(), "acme", "mx1");
      expect([r.ok, r.output]).toEqual([true, expect.stringMatching(/stopping MailU[\s\S]*starting MailU[\s\S]*restore: done/)]);
      expect(hosts.file(ip, `${MAILBOX}/cur/1700000001.M1P1.mx1:2,S`)).toBe(messages["cur/1700000001.M1P1.mx1:2,S"]);
      await expect(restoreServer(opts(), "acme", "mx1", "nope")).rejects.toThrow(/--snapshot must be/);
    }),
  );

  test.concurrent(
    "the image changed in the config: the same server reinstalled in place (preview says so, replaces nothing); mail backed up before, restored after; same IPs",
    carolLane(async () => {
      const before = await outputsOf("carol");
      const ip = before.servers[0].mainIp;
      // Mail that arrived after the last backup: only the backup taken before the reinstall keeps it.
      const late = "cur/1700000009.M9P1.mx1:2,S";
      const lateMail = "From: d@example.net\r\nTo: admin@carol-mail.com\r\nSubject: late\r\n\r\nafter the last backup\r\n";
      await onServer(
        `set -e; base64 -d > '${mailbox("carol")}/${late}'; touch /root/only-on-the-old-disk`,
        Buffer.from(lateMail).toString("base64"),
        "carol",
      );
      const ledger = sim.ledger(KEY).length;
      const execs = hosts.execs.length;
      const stack = await stackOf("carol");
      // The stand-in's host keeps its Debian suite across a reinstall; the image asked for is what changes.
      const t = tenant("carol", 1);
      await stack.setConfig("penguinmails-infra:tenant", {
        value: JSON.stringify({ ...t, servers: [{ ...t.servers[0], image: "debian-12" }] }),
      });
      const said: string[] = [];
      const preview = await stack.preview({ onOutput: (l) => said.push(l) });
      expect(preview.changeSummary).toMatchObject({ update: expect.any(Number) });
      expect(preview.changeSummary).not.toHaveProperty("replace");
      expect(preview.changeSummary).not.toHaveProperty("delete");
      expect(preview.changeSummary).not.toHaveProperty("create");
      expect(said.join("")).toMatch(
        /the image changes from debian-13 to debian-12: server \d+ is reinstalled in place .*IPs and their warm-up stay/,
      );

      const [r] = await fleetUp(opts(), ["carol"]);
      expect([r.status, r.error]).toEqual(["ok", undefined]);
      const after = await outputsOf("carol");
      expect([after.servers[0].serviceId, after.servers[0].mainIp, after.sendingIps]).toEqual([
        before.servers[0].serviceId,
        ip,
        before.sendingIps,
      ]);
      // The ledger: one reinstall of that server, nothing bought or released for carol.
      expect(ledgerOf("carol", ledger)).toEqual([["server", "reinstalled", before.servers[0].serviceId]]);
      expect(hosts.file(ip, "/root/only-on-the-old-disk")).toBeUndefined(); // a fresh disk
      expect(hosts.file(ip, `${mailbox("carol")}/${late}`)).toBe(lateMail);
      for (const [f, content] of Object.entries(messages)) expect(hosts.file(ip, `${mailbox("carol")}/${f}`)).toBe(content);
      expect(hosts.file(ip, dkimKey("carol"))).toBe(carolDkim);
      // The backup before the reinstall, then the restore, then MailU's containers.
      const cmds = commandsOn(ip, execs);
      const backup = cmds.findIndex((c) => c.includes("backing up MailU's data"));
      const restore = cmds.findIndex((c) => c.includes("restoring the newest"));
      expect(backup).toBeGreaterThanOrEqual(0);
      expect(backup).toBeLessThan(restore);
      expect(restore).toBeLessThan(cmds.findIndex((c) => c.includes("up -d --remove-orphans")));
      await expect(stack.preview({ expectNoChanges: true })).resolves.toBeDefined();
    }),
  );

  test("the fleet's state in a dated archive on the same target, restored into the backend made again empty at its address: preview shows no change for every tenant", async () => {
    const access = { repository: stateRepository(target.repository), password: "state-archive-password-0123" };
    const { archive, name, stacks } = await exportState(opts(), TENANTS);
    expect(name).toMatch(/^penguinmails-state-\d{4}-\d\d-\d\dT[\d-]+Z\.json\.gz$/);
    expect(stacks).toEqual(TENANTS);
    const backupPassword = (await outputsOf("acme")).servers[0].backup!.access!.password;
    expect(archive.includes(Buffer.from(backupPassword))).toBe(false); // gzipped: check the JSON too
    const { archive: loaded, from } = await loadStateArchive({ access: await storeStateArchive(access, archive, name).then(() => access) });
    expect(from).toContain(name);
    expect(JSON.stringify(loaded).includes(backupPassword)).toBe(false); // secrets stay ciphertext
    // The backend is lost and made again, empty, at its address: owner marks name the backend (issue 31),
    // so the state goes back to the same one. (Into a backend at another address, IPs would be replaced
    // today: docs/status.md, "Not yet".)
    fs.rmSync(path.join(devDir, "backends", BACKEND), { recursive: true, force: true });
    fs.mkdirSync(path.join(devDir, "backends", BACKEND), { recursive: true });
    const restored = await importState(opts(), loaded);
    expect(restored).toEqual(TENANTS);
    await Promise.all(restored.map(async (t) => expect((await stackOf(t)).preview({ expectNoChanges: true })).resolves.toBeDefined()));
    await expect(importState(opts(), loaded)).rejects.toThrow(/already has \d+ resources in this backend/);
  });
});
