/**
 * The mailboxes part of `npm run demo -- --service` (issue 26): a tenant's server with MailU on the
 * SSH-host stand-in, two mailboxes created through the API, and the one-time credentials each
 * request's result shows (password masked here but for its first 2 characters) with the SMTP and
 * IMAP settings; a second read of the same result no longer has the password. The tenant is
 * onboarded through POST /tenants, so its server backs up to the operator's restic target (a real
 * one on loopback, PENGUINMAILS_BACKUP_REPOSITORY); it ends offboarded by DELETE /tenants/{t}: the
 * final backup's snapshot (read back with restic: the mail delivered just before is in it), the
 * state archive, and the Hostwinds stand-in's ledger balanced. Before that, one message
 * from each mailbox, submitted with its password (587, AUTH), DKIM-signed as MailU signs and relayed by
 * the install's relay to a sink in the host (./mailu-submission.ts): the IP and HELO it left by, and
 * mailauth's DKIM verdict against the published record.
 */
import * as fs from "fs";
import * as path from "path";
import { devDir, projectRoot } from "../lib/engine/pulumi-env";
import { restic, snapshots } from "../lib/restic";
import { serverRepository } from "../../components/mailu-backup";
import { ServiceEnvironment, ServiceRequest, startServiceEnvironment } from "./service-harness";
import { SshHostSim } from "./standins/ssh-host";
import { RestBackupTarget } from "./standins/backup-target";
import { DnsSim } from "./standins/dns";
import { startRelay } from "./relay-harness";
import { MailboxLogin, judge, startSubmission, submitAndReceive } from "./mailu-submission";

const ZONE = "acme-mail.com";
const TENANT = {
  id: "demo-mbx",
  tier: "starter",
  monthlyBudgetUsd: 25,
  zone: ZONE,
  domains: [{ name: ZONE }],
  servers: [{ name: "mx1", location: 2, plan: 101, sendingIps: 1 }],
};

interface Credentials {
  address: string;
  username: string;
  password: string;
  smtp: { host: string; submission: { port: number; security: string }; submissions: { port: number; security: string } };
  imap: { host: string; port: number; security: string };
}

const masked = (p: string) => `${p.slice(0, 2)}${"*".repeat(Math.max(0, p.length - 2))}`;

export async function mailboxesDemo(say: (s: string) => void, detail: (s: string) => void): Promise<void> {
  const noHosts = SshHostSim.unavailableReason() ?? RestBackupTarget.unavailableReason();
  if (noHosts) {
    say(`Mailboxes: skipped (MailU needs the SSH-host stand-in and the backup target: ${noHosts})`);
    return;
  }
  say("Mailboxes: a tenant whose server runs MailU (SSH-host stand-in) and backs up to a restic target (rclone serve restic)");
  const hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", "demo-mailboxes") });
  const target = await new RestBackupTarget({ dir: path.join(devDir, "backup-targets", `demo-mailboxes-${process.pid}`) }).start();
  await hosts.forwardLoopback(Number(/:(\d+)\/$/.exec(target.repository)![1]));
  const env = await startServiceEnvironment({
    name: "demo-mailboxes",
    tenants: [],
    hosts,
    env: { PENGUINMAILS_BACKUP_REPOSITORY: target.repository },
  });
  env.cf.addZone(ZONE);
  const logins: MailboxLogin[] = [];
  try {
    say(`POST /tenants ${JSON.stringify(TENANT)}  (onboarding: the backup step, then MailU, on mx1)`);
    const first = await env.api<ServiceRequest>("POST", "/tenants", TENANT);
    const started = Date.now();
    const onboarded = await env.settle(first.body.id);
    detail(
      `${onboarded.status} in ${((Date.now() - started) / 1000).toFixed(1)} s${onboarded.failureReason ? `: ${onboarded.failureReason}` : ""}`,
    );
    for (const localPart of ["sales", "outreach"]) {
      say(`POST /tenants/${TENANT.id}/domains/${ZONE}/mailboxes {"localPart":"${localPart}"}`);
      const r = await env.api<ServiceRequest>("POST", `/tenants/${TENANT.id}/domains/${ZONE}/mailboxes`, { localPart });
      const done = await env.settle(r.body.id, (status) => detail(status));
      if (done.status !== "assigned") {
        detail(`${done.status}: ${done.failureReason}`);
        continue;
      }
      // The read that saw the request end was the one read that shows the password.
      const once = (done.result as unknown as { mailbox: Credentials }).mailbox;
      detail(`username ${once.username}   password ${masked(once.password)} (shown once)`);
      detail(
        `SMTP ${once.smtp.host}:${once.smtp.submission.port} ${once.smtp.submission.security}, :${once.smtp.submissions.port} ${once.smtp.submissions.security}; IMAP ${once.imap.host}:${once.imap.port} ${once.imap.security}`,
      );
      const again = (await env.api<{ result: { mailbox: Credentials } }>("GET", `/requests/${done.id}`)).body.result.mailbox;
      detail(`read again: password "${again.password}"`);
      logins.push({ address: once.address, password: once.password });
    }
    await sendFromEach(env, hosts, logins, say, detail);
    await offboardWithBackup(env, hosts, target, say, detail);
  } finally {
    await env.stop();
    await hosts.stop();
    await target.stop();
    fs.rmSync(path.join(devDir, "backup-targets", `demo-mailboxes-${process.pid}`), { recursive: true, force: true });
  }
}

/** A mail delivered to sales@, then DELETE /tenants/{t}: the final backup's snapshot read back with restic, the state, the ledger. */
async function offboardWithBackup(
  env: ServiceEnvironment,
  hosts: SshHostSim,
  target: RestBackupTarget,
  say: (s: string) => void,
  detail: (s: string) => void,
): Promise<void> {
  const ip = hosts.addresses()[0];
  const mail = `/mailu/mail/sales@${ZONE}/new/1700000099.M9P1.mx1`;
  say(`A message arrives for sales@${ZONE} (its Maildir on mx1), then the customer leaves`);
  await hosts.run(ip, `mkdir -p "$(dirname ${mail})" && cat > ${mail}`, "Subject: the last one\r\n\r\nbefore offboarding\r\n");
  // The server's restic password: the stack's secret (in the state archive), read here to show the snapshot.
  const password = (await hosts.run(ip, "cat /etc/penguinmails/backup.password")).stdout.trim();
  say(`DELETE /tenants/${TENANT.id}  (offboarding: final backup, state archived, destroy, config removed)`);
  const off = await env.api<ServiceRequest>("DELETE", `/tenants/${TENANT.id}`);
  const started = Date.now();
  const done = await env.settle(off.body.id, (status) => detail(status));
  detail(`${done.status} in ${((Date.now() - started) / 1000).toFixed(1)} s${done.failureReason ? `: ${done.failureReason}` : ""}`);
  const r = done.result as unknown as {
    finalBackups: Array<{ server: string; status: string; repository?: string; snapshot?: string; detail: string }>;
    stateBackup: string;
    releasedServers: Array<{ server: string }>;
    releasedIps: string[];
  } | null;
  if (!r) return;
  for (const b of r.finalBackups)
    detail(`final backup of ${b.server}: ${b.status}, snapshot ${b.snapshot ?? "?"} in ${b.repository ?? "?"}`);
  const access = { repository: serverRepository(target.repository, TENANT.id, "mx1"), password };
  const listed = await snapshots(access);
  const snapshot = r.finalBackups[0]?.snapshot ?? "latest";
  const files = (await restic(access, ["ls", snapshot]))
    .toString()
    .split("\n")
    .filter((l) => l.startsWith("/mailu/"));
  detail(
    `restic snapshots: ${listed.length} (newest ${listed[listed.length - 1]?.short_id}); restic ls ${snapshot}: ${files.length} paths under /mailu, ${files.includes(mail) ? "the message delivered just before among them" : "the message delivered just before MISSING"}`,
  );
  detail(`state: ${path.relative(projectRoot, r.stateBackup)} (${fs.existsSync(r.stateBackup) ? "written" : "MISSING"})`);
  detail(`released: servers ${r.releasedServers.map((s) => s.server).join(", ")}; IPs ${r.releasedIps.join(", ")}`);
  const ledger = env.sim.ledger(env.hostwindsKey);
  const count = (event: string) => ledger.filter((e) => e.event === event).length;
  detail(
    `ledger: ${count("bought")} bought, ${count("released")} released; servers left in the account: ${env.sim.inventory(env.hostwindsKey).length}`,
  );
}

/** One message from each mailbox through submission, rspamd's signing and the relay, to the sink in the host. */
async function sendFromEach(
  env: Awaited<ReturnType<typeof startServiceEnvironment>>,
  hosts: SshHostSim,
  logins: MailboxLogin[],
  say: (s: string) => void,
  detail: (s: string) => void,
): Promise<void> {
  if (!logins.length) return;
  const ip = hosts.addresses()[0];
  say(
    `Sending one message from each mailbox: SMTP submission with its password, DKIM-signed by Debian's rspamd on MailU's config, out through the relay`,
  );
  const dns = await new DnsSim({ records: () => env.cf.allRecords(), ptr: (x) => env.sim.ptr(x) }).start();
  try {
    await startRelay(hosts, ip);
    await startSubmission(hosts, ip, { hostname: `mx1.${ZONE}`, mailboxes: logins });
    for (const login of logins) {
      const sent = await submitAndReceive(hosts, ip, login);
      if (!sent.received) {
        detail(`${login.address}: not delivered (swaks ${sent.code}: ${sent.reply})`);
        continue;
      }
      const got = sent.received;
      const v = await judge(got, dns.address);
      detail(
        `${login.address}: left from ${got.addr}, HELO ${got.helo} (PTR ${v.ptr.join(", ") || "none"}); DKIM ${v.dkim} (${v.signedBy}), SPF ${v.spf}, DMARC ${v.dmarc}; ${got.seconds?.toFixed(1)} s to the sink`,
      );
    }
    const wrong = await submitAndReceive(hosts, ip, { ...logins[0], password: `${logins[0].password}x` });
    detail(
      `a wrong password for ${logins[0].address}: ${wrong.code === 28 ? "refused" : `not refused (swaks ${wrong.code})`} (${wrong.reply})`,
    );
  } finally {
    await dns.stop();
  }
}
