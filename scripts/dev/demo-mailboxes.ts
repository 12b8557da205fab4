/**
 * The mailboxes part of `npm run demo -- --service` (issue 26): a tenant's server with MailU on the
 * SSH-host stand-in, two mailboxes created through the API, and the one-time credentials each
 * request's result shows (password masked here but for its first 2 characters) with the SMTP and
 * IMAP settings; a second read of the same result no longer has the password. Then one message
 * from each mailbox, submitted with its password (587, AUTH), DKIM-signed as MailU signs and relayed by
 * the install's relay to a sink in the host (./mailu-submission.ts): the IP and HELO it left by, and
 * mailauth's DKIM verdict against the published record.
 */
import * as path from "path";
import { devDir } from "../lib/engine/pulumi-env";
import { ServiceRequest, startServiceEnvironment } from "./service-harness";
import { SshHostSim } from "./standins/ssh-host";
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
  const noHosts = SshHostSim.unavailableReason();
  if (noHosts) {
    say(`Mailboxes: skipped (MailU needs the SSH-host stand-in: ${noHosts})`);
    return;
  }
  say("Mailboxes: a tenant whose server runs MailU (SSH-host stand-in), its first apply installs it");
  const hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", "demo-mailboxes") });
  const env = await startServiceEnvironment({ name: "demo-mailboxes", tenants: [TENANT], hosts });
  const logins: MailboxLogin[] = [];
  try {
    const first = await env.api<ServiceRequest>("POST", `/tenants/${TENANT.id}/requests`, {
      kind: "add_standby",
      params: { server: "mx1", count: 1 },
    });
    detail(`add_standby: ${(await env.settle(first.body.id)).status} (MailU installed on mx1.${ZONE})`);
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
  } finally {
    await env.stop();
    await hosts.stop();
  }
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
