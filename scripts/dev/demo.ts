/**
 * `npm run demo`: one tenant's mail servers managed as a Pulumi stack, end to
 * end on this machine: the Hostwinds and Cloudflare stand-ins on loopback, the real Pulumi
 * engine on a local backend, the tenant program (stacks/) and the policy
 * pack (policies/). Each step says what it does and what it bought or released.
 */
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { DEV_PASSPHRASE, devDir, localStack, programDir, projectRoot } from "../lib/engine/pulumi-env";
import { parseCommandLine } from "../lib/args";
import { HostwindsSim, LedgerEntry } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import { SshHostSim } from "./standins/ssh-host";
import { DnsSim } from "./standins/dns";
import { SmtpSim, testCertificates } from "./standins/smtp";
import { StackOutputs, verifyStack } from "../lib/verify/index";
import { relayAccess } from "../cli/fleet/recovery";
import { MailuFrontSim } from "./standins/mailu-front";
import { REPORT_LOCAL_PARTS } from "../../components/mailu-scripts";
import { monthlyCost } from "../../providers/model/pricing";
import { serviceDemo } from "./demo-service";
import { disasterDrill, printDrill } from "./disaster";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";

const HELP = `usage: npm run demo [-- --keep | --service | --disaster]

Starts the Hostwinds, Cloudflare and SSH-host stand-ins on loopback and runs a
sample tenant stack ("demo-acme", growth tier, $35/month budget) on a local backend:
  1. pulumi up: 1 server, 2 sending IPs with rDNS, the domain's DNS records (A, MX, SPF,
     DKIM, DMARC, autoconfig, MTA-STS, TLS-RPT), MailU installed over SSH on the
     server, outputs and monthly cost; then npm run verify's checks against a DNS stand-in
     serving what was published and an SMTP stand-in for the server
  2. raise to 4 sending IPs: the preview shows what will be bought and the cost delta; up
     applies it, and only the server's network step (addresses on the NIC, the relay's per-IP transports) reruns
  3. add a second server: the program refuses it (over budget) before anything is bought
     (the policy pack checks the same, as the second guard)
  4. lower to 1 sending IP: the preview shows the release; up applies it
  5. move the server to a larger plan: upgraded in place (upgrade_instance), same server, same IPs
  6. pulumi destroy, and the stand-in's ledger of everything bought and released
Nothing leaves this machine.

  --keep     skip step 6: leave the stack and keep the stand-in running, and print
             the commands to explore it with pulumi by hand (Ctrl-C stops it and
             prints the ledger; no command shown carries the API key)
  --service  instead, the provisioning service's path: a private PostgreSQL and the service
             (npm run service) on the stand-ins; the demo plays the platform: acquire 2 IPs
             (each status as it happens), an over-budget request rejected, a pause to the
             standby IP, a release; then the ledger, the git history and the tenant's IPs
  --disaster the recovery drill: deploy with backups to a restic REST target on loopback,
             put messages in a mailbox, back up, terminate the server behind the stack's
             back, recover with up --refresh, and show the mailbox, DKIM key and DNS back,
             with RPO and RTO measured (needs root, restic and rclone)`;

const KEY = "demo-key-0123456789";
const CF_TOKEN = "demo-cf-token-0123456789";
const POLICIES = path.join(projectRoot, "policies");
const t0 = Date.now();
const say = (s: string) => console.log(`\n[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${s}`);
const detail = (s: string) => console.log(`        ${s}`);

interface Server {
  name: string;
  location: number;
  plan: number;
  sendingIps: number;
}
const tenant = (servers: Server[]) => ({
  id: "acme",
  tier: "growth",
  monthlyBudgetUsd: 35,
  zone: "acme-mail.com",
  domains: [{ name: "acme-mail.com", dmarcPolicy: "none", dkimSelector: "pm1" }],
  servers,
  warmup: "standard",
});
const mx1 = (sendingIps: number): Server => ({ name: "mx1", location: 2, plan: 102, sendingIps });
const costOf = (servers: Server[]) =>
  monthlyCost(
    servers.map((s) => ({ ...s, billingCycle: "monthly" as const })),
    defaultPriceBook(),
  ).totalUsd;
const usd = (n: number) => `$${n.toFixed(2)}`;

/** The lines of an engine run that name a resource step: what will be bought, changed or released. */
function steps(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => /^\s*[+\-~]\s+pulumi-nodejs:dynamic\//.test(l) || /^\s*[+\-~]\s+penguinmails:/.test(l))
    .map((l) => l.trim().replace(/pulumi-nodejs:dynamic\/(penguinmails:)?/, ""));
}

async function change(stack: Stack, servers: Server[], sim: HostwindsSim, before: number): Promise<void> {
  await stack.setConfig("tenant", { value: JSON.stringify(tenant(servers)) });
  const preview = await stack.preview({ policyPacks: [POLICIES] });
  for (const l of steps(preview.stdout)) detail(l);
  const after = costOf(servers);
  detail(`monthly cost ${usd(before)} → ${usd(after)} (${after >= before ? "+" : "−"}${usd(Math.abs(after - before))})`);
  const mark = sim.ledger(KEY).length;
  say("Applying it (pulumi up)");
  const up = await stack.up({ policyPacks: [POLICIES] });
  for (const e of sim.ledger(KEY).slice(mark)) detail(ledgerLine(e));
  const reran = steps(up.stdout).filter((l) => l.startsWith("~") && l.includes("ssh:Command") && l.includes("updated"));
  for (const l of reran) detail(`on the server: ${l}`);
}

const ledgerLine = (e: LedgerEntry) =>
  `${e.event.padEnd(8)} ${e.kind.padEnd(6)} ${(e.ip ?? e.name ?? "").padEnd(16)} ${usd(e.monthlyUsd)}/month`;

// eslint-disable-next-line max-lines-per-function -- the demo is a script the reader follows in order; splitting it would hide the story it tells
async function main() {
  const flags = parseCommandLine({
    name: "demo",
    help: HELP,
    options: { keep: { type: "boolean" }, service: { type: "boolean" }, disaster: { type: "boolean" } },
  }).values;
  if (flags.disaster) {
    printDrill(await disasterDrill({ messages: 20, messageBytes: 64 * 1024, say, detail }));
    say("Done.");
    return;
  }
  if (flags.service) {
    await serviceDemo();
    say("Done.");
    return;
  }
  const keep = flags.keep === true;

  say("Starting the Hostwinds, Cloudflare and SSH-host stand-ins on loopback and the Pulumi toolchain");
  // Without root the servers get no SSH host; the stack then skips the MailU install and says so.
  const noHosts = SshHostSim.unavailableReason();
  const hosts = noHosts ? undefined : new SshHostSim({ dir: path.join(devDir, "ssh-hosts", "demo") });
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 3000, ipDelayMs: 1500, hosts }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["acme-mail.com"] } }).start();
  cf.addZone("acme-mail.com");
  detail(`Hostwinds API stand-in: ${sim.url}`);
  detail(`Cloudflare API stand-in: ${cf.url} (zone acme-mail.com)`);
  detail(
    hosts
      ? "SSH hosts: each new server's main IP is an sshd on 127.N.x.y:22 with a sandboxed shell"
      : `SSH hosts: none (${noHosts}); the MailU install is skipped`,
  );
  const dir = programDir("demo", "stacks", "penguinmails-infra");
  const stack = await localStack("demo-acme", dir, { backend: "demo" });
  let cleanUp = !keep;
  try {
    await stack.setAllConfig({
      ...sim.stackConfig(KEY, { pollIntervalMs: 500, requestsPerSecond: 10 }),
      ...cf.stackConfig(CF_TOKEN),
      ...(hosts ? {} : { installMailu: { value: "false" } }),
      tenant: { value: JSON.stringify(tenant([mx1(2)])) },
    });

    say("1. pulumi up for tenant acme (growth tier, budget $35/month): 1 server, 2 sending IPs");
    await stack.up({
      policyPacks: [POLICIES],
      onOutput: (o) => {
        for (const l of o.split("\n")) if (/waiting for .*check 1\)|taking over/.test(l)) detail(l.trim());
      },
    });
    const outs = await stack.outputs();
    for (const s of outs.servers.value as Array<{
      name: string;
      serviceId: number;
      mainIp: string;
      sendingIps: Array<{ ip: string; hostname: string }>;
      mailu?: { version: string; postmaster: string };
    }>) {
      detail(`server ${s.name} (Hostwinds id ${s.serviceId}), main IP ${s.mainIp}`);
      for (const ip of s.sendingIps) detail(`  sending IP ${ip.ip}  rDNS ${ip.hostname}`);
      if (s.mailu && hosts) {
        detail(
          `  MailU ${s.mailu.version} installed over SSH; postmaster ${s.mailu.postmaster} (password: pulumi stack output --show-secrets)`,
        );
        for (const c of hosts.calls(s.mainIp).filter((x) => x.tool !== "docker" || !x.args.includes("ps")))
          detail(`    on the server: ${c.tool} ${c.args.join(" ")}`);
      }
    }
    const cost = outs.monthlyCostUsd.value as { totalUsd: number; servers: Array<{ name: string; serverUsd: number; ipsUsd: number }> };
    for (const s of cost.servers) detail(`cost: ${s.name} ${usd(s.serverUsd)} + IPs ${usd(s.ipsUsd)} = ${usd(cost.totalUsd)}/month`);
    const records = outs.dnsRecords.value as Array<{ type: string; name: string; content: string }>;
    detail(`DNS in zone acme-mail.com: ${records.length} records, e.g.`);
    for (const r of records
      .filter((x) => x.type === "MX" || (x.type === "TXT" && !x.name.includes("_domainkey")) || x.type === "A")
      .slice(0, 8))
      detail(`  ${r.type.padEnd(5)} ${r.name.padEnd(32)} ${r.content.length > 70 ? r.content.slice(0, 67) + "..." : r.content}`);
    const warm = (outs.warmup.value as Array<{ ip: string; schedule: Array<{ day: number; maxMessages: number }> }>)[0];
    detail(
      `warm-up of ${warm.ip}: ${warm.schedule
        .slice(0, 6)
        .map((d) => `day ${d.day} ${d.maxMessages}`)
        .join(", ")}, … day ${warm.schedule.length} ${warm.schedule.at(-1)!.maxMessages}`,
    );

    say(
      "   Verifying deliverability (npm run verify): DNS as published, FCrDNS, blocklists, SMTP/TLS, HELO = PTR, MTA-STS, report mailboxes",
    );
    const dnsServer = await new DnsSim({
      records: () => cf.allRecords(),
      ptr: (ip) => sim.ptr(ip),
      blocklists: { "zen.spamhaus.org": {} },
    }).start();
    const first = (outs.servers.value as Array<{ name: string; mainIp: string }>)[0];
    const mxName = first.name;
    const certs = testCertificates(path.join(devDir, "demo-certs"), mxName);
    // MailU's Postfix takes its users and aliases (without MailU: the report aliases its install would make).
    const smtp = await new SmtpSim({
      hostname: mxName,
      certificate: certs.good,
      recipients: (a) => (hosts ? hosts.mailuHasAddress(first.mainIp, a) : REPORT_LOCAL_PARTS.some((l) => a === `${l}@acme-mail.com`)),
    }).start();
    // MailU's front serving the MTA-STS policy from the install's override file (only with MailU installed),
    // with a certificate for the names the install asked Let's Encrypt for (HOSTNAMES in mailu.env).
    const hostnames = hosts ? (/^HOSTNAMES=(.*)$/m.exec(hosts.file(first.mainIp, "/mailu/mailu.env") ?? "")?.[1].split(",") ?? []) : [];
    const stsCerts = hosts ? testCertificates(path.join(devDir, "demo-front-certs"), "mta-sts.acme-mail.com", hostnames) : undefined;
    const front = stsCerts
      ? await new MailuFrontSim({
          certificate: stsCerts.good,
          config: () => hosts!.file(first.mainIp, "/mailu/overrides/nginx/mta-sts.conf"),
        }).start()
      : undefined;
    try {
      const results = await verifyStack(Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v.value])) as unknown as StackOutputs, {
        resolvers: [dnsServer.address],
        authoritative: [dnsServer.address],
        smtpHost: "127.0.0.1",
        smtp: { ports: smtp.ports, ca: certs.ca },
        mtaSts: front && stsCerts ? { host: "127.0.0.1", port: front.port, ca: stsCerts.ca } : false,
        certificates: front && stsCerts ? { host: "127.0.0.1", port: front.port, ca: stsCerts.ca } : false,
        ssh: hosts ? relayAccess(stack, "acme") : undefined,
      });
      const count = (st: string) => results.filter((r) => r.status === st).length;
      detail(`${results.length} checks: ${count("pass")} pass, ${count("fail")} fail, ${count("warn")} warn, ${count("unknown")} unknown`);
      for (const r of results.filter((x) => x.check !== "dns record" || x.status !== "pass"))
        detail(`  ${r.check.padEnd(12)} ${r.subject.padEnd(36)} ${r.status.toUpperCase().padEnd(5)} ${r.detail}`);
      if (count("fail")) throw new Error("verify found failures in the demo tenant");
    } finally {
      await dnsServer.stop();
      await smtp.stop();
      await front?.stop();
    }

    say("2. Raising mx1 to 4 sending IPs: the preview says what will be bought and what it costs");
    await change(stack, [mx1(4)], sim, cost.totalUsd);

    say(
      "3. Adding a second server mx2 with 2 IPs: over the $35 budget, so the program must refuse it (the policy pack is the second guard)",
    );
    await stack.setConfig("tenant", { value: JSON.stringify(tenant([mx1(4), { name: "mx2", location: 3, plan: 102, sendingIps: 2 }])) });
    const bought = sim.ledger(KEY).length;
    const refused = await stack.up({ policyPacks: [POLICIES] }).then(
      () => undefined,
      (e: Error) => e,
    );
    if (!refused) throw new Error("an over-budget change went through");
    for (const l of new Set(
      refused.message
        .split("\n")
        .filter((x) => /mandatory|over the budget|allows|refused by the program/.test(x))
        .map((x) => x.trim()),
    ))
      detail(l);
    detail(`purchases made by the refused run: ${sim.ledger(KEY).length - bought}`);

    say("4. Lowering mx1 to 1 sending IP: the preview shows the release");
    await change(stack, [mx1(1)], sim, costOf([mx1(4)]));

    say("5. Moving mx1 to a larger plan (4GB): the same server is upgraded in place, keeping its IPs, mail and warm-up");
    const server = async () =>
      (await stack.outputs()).servers.value as Array<{ serviceId: number; mainIp: string; sendingIps: Array<{ ip: string }> }>;
    const [beforeUpgrade] = await server();
    await change(stack, [{ ...mx1(1), plan: 103 }], sim, costOf([mx1(1)]));
    const [afterUpgrade] = await server();
    const ipsOf = (x: typeof beforeUpgrade) => [x.mainIp, ...x.sendingIps.map((i) => i.ip)].join(", ");
    detail(`server ${beforeUpgrade.serviceId} → ${afterUpgrade.serviceId}; IPs ${ipsOf(beforeUpgrade)} → ${ipsOf(afterUpgrade)}`);
    if (afterUpgrade.serviceId !== beforeUpgrade.serviceId || ipsOf(afterUpgrade) !== ipsOf(beforeUpgrade))
      throw new Error("the plan change did not keep the server and its IPs");

    if (keep) {
      cleanUp = false;
      say("Left for you to explore. In another shell:");
      detail(`export PATH="${path.join(devDir, "bin")}:$PATH" PULUMI_HOME="${path.join(devDir, "pulumi-home")}"`);
      detail(`export PULUMI_BACKEND_URL="file://${path.join(devDir, "backends", "demo")}" PULUMI_CONFIG_PASSPHRASE=${DEV_PASSPHRASE}`);
      detail(`export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true`);
      detail(`cd ${dir} && pulumi stack select demo-acme`);
      detail(`pulumi stack output --show-secrets; pulumi refresh; pulumi preview --policy-pack ${POLICIES}; pulumi destroy`);
      // The ledger is shown here on Ctrl-C rather than as a control URL: that URL would carry the API key.
      detail("The stand-in keeps running here; Ctrl-C stops it and prints the account's ledger.");
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
      for (const e of sim.ledger(KEY)) detail(ledgerLine(e));
    } else {
      say("6. pulumi destroy: everything of the tenant is released");
      const mark = sim.ledger(KEY).length;
      await stack.destroy();
      for (const e of sim.ledger(KEY).slice(mark)) detail(ledgerLine(e));
      say("The account's ledger, from the first purchase to the last release");
      for (const e of sim.ledger(KEY)) detail(ledgerLine(e));
      detail(`still held: ${sim.inventory(KEY).length} servers; DNS records left in the zone: ${cf.records("acme-mail.com").length}`);
    }
  } finally {
    if (cleanUp) await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await sim.stop();
    await cf.stop();
    await hosts?.stop();
  }
  say("Done.");
}

main().catch((e) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
