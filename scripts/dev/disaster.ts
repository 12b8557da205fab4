/**
 * The recovery drill (`npm run demo -- --disaster`, and the `backup` section of
 * `npm run bench`): a tenant deployed on the stand-ins with backups to a real
 * restic REST target (rclone serve restic), messages put into a mailbox, a
 * backup, one more message after it, the server terminated behind the stack's
 * back, `up --refresh` to rebuild it; then the mailbox, DKIM key and DNS are
 * compared with what was there, and RPO (the snapshot's age when the server
 * was lost), RTO (loss to a rebuilt, restored server) and the backup and
 * restore throughput are measured.
 */
import * as fs from "fs";
import * as path from "path";
import { makeFleetProject } from "./fleet-project";
import { stringify } from "yaml";
import { devDir, workDirFor } from "../lib/engine/pulumi-env";
import { HostwindsSim } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import { SshHostSim } from "./standins/ssh-host";
import { RestBackupTarget } from "./standins/backup-target";
import { FleetOptions, fleetUp } from "../cli/fleet/commands";
import { openTenantStack } from "../lib/stacks/stacks";
import { fleetProject } from "../lib/stacks/tenants";
import { backupServerNow, restoreServer, serverConnection } from "../cli/fleet/recovery";
import { ServerBackup, checkBackups, mib } from "../lib/verify/backup";
import { run } from "../../providers/ssh/client";
import { standinEnv } from "./standins/env";

const KEY = "drill-key-0123456789";
const CF_TOKEN = "drill-cf-token-0123456789";
const ZONE = "acme-mail.com";
const MAILBOX = `/mailu/mail/admin@${ZONE}`;

export interface DrillOptions {
  /** Messages in the mailbox before the backup. */
  messages: number;
  /** Bytes of each message's body (random, so it does not compress away). */
  messageBytes: number;
  say?: (s: string) => void;
  detail?: (s: string) => void;
}

export interface DrillResult {
  mailboxBytes: number;
  backupSeconds: number;
  storedBytes: number;
  /** Age of the newest snapshot when the server was lost. */
  rpoSeconds: number;
  /** From the loss to a rebuilt server with its data back (up --refresh). */
  rtoSeconds: number;
  /** An explicit restore of the same data onto the running server. */
  restoreSeconds: number;
  lostAfterSnapshot: number;
  mailboxBack: boolean;
  dkimSame: boolean;
  dnsAtNewIp: boolean;
  oldIp: string;
  newIp: string;
  rebuiltNote: string[];
}

// eslint-disable-next-line max-lines-per-function -- a drill read top to bottom: lose the host, restore, check; each step uses the previous one's results
export async function disasterDrill(o: DrillOptions): Promise<DrillResult> {
  const say = o.say ?? (() => undefined);
  const detail = o.detail ?? (() => undefined);
  const unavailable = SshHostSim.unavailableReason() ?? RestBackupTarget.unavailableReason();
  if (unavailable) throw new Error(`the recovery drill cannot run here: ${unavailable}`);
  const id = `drill-${process.pid}`;
  const hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", id) });
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 150, hosts }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
  cf.addZone(ZONE);
  const targetDir = path.join(devDir, "backup-targets", id);
  const target = await new RestBackupTarget({ dir: targetDir }).start();
  // Each server runs in its own network namespace: the target's loopback port is forwarded into it.
  await hosts.forwardLoopback(Number(/:(\d+)\/$/.exec(target.repository)![1]));
  Object.assign(process.env, standinEnv(sim, KEY, cf, CF_TOKEN));
  const dir = workDirFor(id);
  makeFleetProject(dir);
  const tenant = {
    id: "acme",
    tier: "starter",
    monthlyBudgetUsd: 35,
    zone: ZONE,
    domains: [{ name: ZONE }],
    servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2 }],
  };
  fs.writeFileSync(path.join(dir, "stacks/Pulumi.acme.yaml"), stringify({ config: { "penguinmails-infra:tenant": tenant } }));
  const backend = id;
  const opts: FleetOptions = { project: fleetProject(dir), concurrency: 1, localBackend: backend, log: (l) => detail(l) };
  const stack = await openTenantStack(opts.project, "acme", 0, opts, true);
  try {
    await stack.setConfig("penguinmails-infra:backup", { value: JSON.stringify({ repository: target.repository }), secret: true });
    const outputs = async () =>
      Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value])) as {
        servers: Array<{ name: string; mainIp: string; serviceId: number; backup: ServerBackup }>;
      };
    const onServer = async (script: string, stdin?: string) => {
      const { connection } = await serverConnection(stack, "acme", "mx1");
      const r = await run(connection, script, { stdin });
      if (r.code !== 0) throw new Error(`${script.split("\n")[0]}: ${r.stderr || r.stdout}`);
      return r.stdout;
    };

    say("Deploy: tenant acme with one server, MailU and backups to a restic REST target (rclone serve restic on loopback)");
    const [up] = await fleetUp(opts, ["acme"]);
    if (up.status !== "ok") throw new Error(`up failed: ${up.error}`);
    const before = await outputs();
    const oldIp = before.servers[0].mainIp;
    detail(`server mx1 at ${oldIp}; backups to ${before.servers[0].backup.repository} (password: a Pulumi secret)`);

    say(`Mail arrives: ${o.messages} messages of ${mib(o.messageBytes)} each into ${MAILBOX}/cur (maildir files)`);
    await onServer(
      `set -e; mkdir -p ${MAILBOX}/cur ${MAILBOX}/new ${MAILBOX}/tmp
for i in $(seq 1 ${o.messages}); do
  { printf 'From: sender%s@example.net\\r\\nTo: admin@${ZONE}\\r\\nSubject: message %s\\r\\n\\r\\n' "$i" "$i"; head -c ${o.messageBytes} /dev/urandom | base64 -w 76; } > "${MAILBOX}/cur/17000000$i.M$i.mx1:2,S"
done`,
    );
    const sums = async () => (await onServer(`cd ${MAILBOX} && find . -type f | sort | xargs sha256sum`)).trim();
    const mailboxSums = await sums();
    const mailboxBytes = Number((await onServer(`du -sb ${MAILBOX} | cut -f1`)).trim());
    const dkimBefore = await onServer(`sha256sum /mailu/dkim/${ZONE}.pm1.key`);

    say("Back up now (what the daily timer runs): restic snapshot of /mailu, encrypted, to the target");
    const b = await backupServerNow(opts, "acme", "mx1");
    if (!b.ok) throw new Error(`backup failed: ${b.output}`);
    const [status] = await checkBackups(before.servers);
    detail(`verify: ${status.status.toUpperCase()} ${status.detail}`);
    const snapshotAt = Date.now();
    const storedBytes = target.storedBytes();

    say("One more message arrives after the snapshot; it is what this loss costs (the RPO)");
    await onServer(`printf 'Subject: late\\r\\n\\r\\nafter the backup\\r\\n' > '${MAILBOX}/new/1800000000.late.mx1'`);

    say("Disaster: the server is terminated in the Hostwinds panel, behind the stack's back");
    await fetch(sim.url, {
      method: "POST",
      body: new URLSearchParams({ action: "terminate", API: KEY, serviceid: String(before.servers[0].serviceId) }),
    });
    const lostAt = Date.now();
    detail(`server ${before.servers[0].serviceId} and its IPs are gone; ${oldIp} no longer answers`);

    say(
      "Recover: npm run fleet -- up --tenants acme --refresh (refresh finds the server gone; up rebuilds it, restores the newest snapshot before MailU starts)",
    );
    const notes: string[] = [];
    const [re] = await fleetUp({ ...opts, refresh: true, log: (l) => notes.push(l) }, ["acme"]);
    if (re.status !== "ok") throw new Error(`recovery failed: ${re.error}`);
    const rtoSeconds = (Date.now() - lostAt) / 1000;
    for (const n of notes) detail(n);
    const after = await outputs();
    const newIp = after.servers[0].mainIp;
    const mailboxBack = (await sums()) === mailboxSums;
    const dkimSame = (await onServer(`sha256sum /mailu/dkim/${ZONE}.pm1.key`)) === dkimBefore;
    const dnsAtNewIp = cf.records(ZONE).find((r) => r.type === "A" && r.name === `mx1.${ZONE}`)?.content === newIp;
    const lateLost = !(await onServer(`test -f '${MAILBOX}/new/1800000000.late.mx1' && echo present || echo lost`)).includes("present");
    detail(
      `mailbox: ${mailboxBack ? "every file back, byte for byte" : "DIFFERS"}; DKIM key: ${dkimSame ? "unchanged" : "CHANGED"}; DNS: mx1.${ZONE} → ${newIp}${dnsAtNewIp ? "" : " (NOT updated)"}`,
    );
    detail(`the message that arrived after the snapshot: ${lateLost ? "lost (younger than the snapshot)" : "present"}`);

    say("An explicit restore on the running server: npm run fleet -- restore --tenant acme --server mx1");
    const r = await restoreServer(opts, "acme", "mx1");
    if (!r.ok) throw new Error(`restore failed: ${r.output}`);

    return {
      mailboxBytes,
      backupSeconds: b.ms / 1000,
      storedBytes,
      rpoSeconds: (lostAt - snapshotAt) / 1000,
      rtoSeconds,
      restoreSeconds: r.ms / 1000,
      lostAfterSnapshot: lateLost ? 1 : 0,
      mailboxBack,
      dkimSame,
      dnsAtNewIp,
      oldIp,
      newIp,
      rebuiltNote: notes,
    };
  } finally {
    await stack.destroy().catch(() => undefined);
    await stack.workspace.removeStack("acme", { force: true }).catch(() => undefined);
    await hosts.stop();
    await sim.stop();
    await cf.stop();
    await target.stop();
    fs.rmSync(targetDir, { recursive: true, force: true });
  }
}

export function printDrill(r: DrillResult): void {
  const rate = (bytes: number, s: number) => `${(bytes / 1048576 / s).toFixed(1)} MiB/s`;
  console.log(`\nrecovery drill (mailbox ${mib(r.mailboxBytes)})`);
  console.log(
    `  backup      ${r.backupSeconds.toFixed(1)} s (${rate(r.mailboxBytes, r.backupSeconds)}; ${mib(r.storedBytes)} stored, encrypted)`,
  );
  console.log(
    `  RPO         ${r.rpoSeconds.toFixed(1)} s here (the newest snapshot's age at the loss; with the daily timer, up to 24 h + 30 min)`,
  );
  console.log(
    `  RTO         ${r.rtoSeconds.toFixed(1)} s (loss → rebuilt server with its data back: refresh, buy, IPs, DNS, restore, MailU)`,
  );
  console.log(
    `  restore     ${r.restoreSeconds.toFixed(1)} s on a running server (${rate(r.mailboxBytes, r.restoreSeconds)}, MailU stopped and started)`,
  );
  console.log(
    `  checks      mailbox ${r.mailboxBack ? "identical" : "DIFFERS"}, DKIM ${r.dkimSame ? "unchanged" : "CHANGED"}, DNS ${r.dnsAtNewIp ? "at the new IP" : "NOT updated"}; ${r.lostAfterSnapshot} message younger than the snapshot lost`,
  );
  console.log(`  IPs         main ${r.oldIp} → ${r.newIp}: a terminated server comes back with new IPs, so their warm-up restarts`);
}
