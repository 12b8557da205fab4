/**
 * Mailboxes at scale (issue 26): one tenant stack, one server, D domains × M mailboxes (50 × 5 by
 * default), through the real engine against the stand-ins and the SSH-host stand-in (root needed).
 * MailU is installed first with the domains and no mailboxes (not measured); then the mailboxes are
 * created in one up, then one of them is changed: the wall time of each up and the SSH round trips
 * it made (sessions the host saw), and how many of them ran MailU's import.
 */
import * as path from "path";
import { devDir, localStack, programDir } from "../../lib/engine/pulumi-env";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { SshHostSim } from "../standins/ssh-host";

export interface MailboxStep {
  what: string;
  wallMs: number;
  sshRoundTrips: number;
  imports: number;
}
export interface MailboxesBench {
  domains: number;
  perDomain: number;
  steps: MailboxStep[];
  /** Why the bench did not run (no root or namespaces here), if it did not. */
  skipped?: string;
}

const KEY = "bench-mailboxes-key-0123456789";
const CF_TOKEN = "bench-mailboxes-cf-0123456789";
const ZONE = "bench-mail.com";

const tenantConfig = (domains: number, boxes: (d: number) => Array<Record<string, unknown>>) => ({
  id: "benchmail",
  tier: "growth",
  monthlyBudgetUsd: 100,
  zone: ZONE,
  domains: Array.from({ length: domains }, (_, d) => ({ name: d === 0 ? ZONE : `d${d}.${ZONE}`, mailboxes: boxes(d) })),
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }],
});

export async function mailboxesBench(o: { domains: number; perDomain: number; progress: (l: string) => void }): Promise<MailboxesBench> {
  const skipped = SshHostSim.unavailableReason();
  if (skipped) return { domains: o.domains, perDomain: o.perDomain, steps: [], skipped };
  const hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `bench-mailboxes-${process.pid}`) });
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 200, hosts }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: [ZONE] }, rateLimit: 0 }).start();
  cf.addZone(ZONE);
  const stack = await localStack(`benchmail-${process.pid}`, programDir("bench-mailboxes", "stacks", "penguinmails-infra"), {
    backend: `bench-mailboxes-${process.pid}`,
  });
  const steps: MailboxStep[] = [];
  const step = async (what: string, tenant: object) => {
    await stack.setConfig("tenant", { value: JSON.stringify(tenant) });
    const before = hosts.execs.length;
    const t0 = Date.now();
    await stack.up();
    const made = hosts.execs.slice(before);
    return {
      what,
      wallMs: Date.now() - t0,
      sshRoundTrips: made.length,
      imports: made.filter((e) => e.command.includes("config-import")).length,
    };
  };
  const boxes = (quotaOf: (d: number, k: number) => number) => (d: number) =>
    Array.from({ length: o.perDomain }, (_, k) => ({ localPart: `user${k}`, quotaMb: quotaOf(d, k) }));
  try {
    await stack.setAllConfig({ ...sim.stackConfig(KEY), ...cf.stackConfig(CF_TOKEN) });
    o.progress(`installing MailU with ${o.domains} domains and no mailboxes (not measured)`);
    await step(
      "install",
      tenantConfig(o.domains, () => []),
    );
    const n = o.domains * o.perDomain;
    o.progress(`creating ${n} mailboxes`);
    steps.push(
      await step(
        `${n} mailboxes created`,
        tenantConfig(
          o.domains,
          boxes(() => 1024),
        ),
      ),
    );
    o.progress("changing one mailbox's quota");
    steps.push(
      await step(
        "1 mailbox changed",
        tenantConfig(
          o.domains,
          boxes((d, k) => (d === 0 && k === 0 ? 2048 : 1024)),
        ),
      ),
    );
    o.progress("destroying");
    await stack.destroy();
  } finally {
    await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await hosts.stop();
    await sim.stop();
    await cf.stop();
  }
  return { domains: o.domains, perDomain: o.perDomain, steps };
}

export function printMailboxesBench(r: MailboxesBench): void {
  console.log(`\nmailboxes: ${r.domains} domains × ${r.perDomain} mailboxes on one server (real engine, SSH-host stand-in)`);
  if (r.skipped) {
    console.log(`  skipped: ${r.skipped}`);
    return;
  }
  for (const s of r.steps)
    console.log(
      `  ${s.what.padEnd(26)} ${(s.wallMs / 1000).toFixed(1).padStart(7)} s   SSH round trips ${s.sshRoundTrips}   MailU imports ${s.imports}`,
    );
}
