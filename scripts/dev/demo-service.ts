/**
 * `npm run demo -- --service`: the provisioning service's path, narrated. A private Postgres,
 * the stand-ins, a config repository with one tenant, and the service as its own process; the
 * demo plays the platform: requests through the API, each status as it happens, then what the
 * ledger, the git history and the tenant's IPs say; it ends on the operator console's address.
 * Before it, a customer's whole life through the service (./demo-tenants.ts).
 */
import { ServiceRequest, startServiceEnvironment } from "./service-harness";
import { consoleDemo } from "./demo-console";
import { tenantsDemo } from "./demo-tenants";
import { reputationDemo } from "./demo-reputation";
import { mailboxesDemo } from "./demo-mailboxes";

const t0 = Date.now();
const say = (s: string) => console.log(`\n[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${s}`);
const detail = (s: string) => console.log(`        ${s}`);

const TENANT = {
  id: "demo-acme",
  tier: "growth",
  monthlyBudgetUsd: 25,
  zone: "acme-mail.com",
  domains: [{ name: "acme-mail.com" }],
  servers: [{ name: "mx1", location: 2, plan: 101, sendingIps: 0, standbyIps: 1 }],
  warmup: "standard",
};

export async function serviceDemo(): Promise<void> {
  // A customer's whole life first (its own environment), so that the demo ends on the console's address.
  await tenantsDemo(say, detail);
  await mailboxesDemo(say, detail);
  say("Starting a private PostgreSQL, the Hostwinds and Cloudflare stand-ins, a config repository and the service");
  const env = await startServiceEnvironment({ name: "demo-service", tenants: [TENANT], ipDelayMs: 1500 });
  detail(`service: ${env.service.url} (OpenAPI: ${env.service.url}/openapi.json); Postgres: ${env.pg.url}`);
  detail(
    `config repository: ${env.repo.remote} (tenant demo-acme: growth tier, $25/month, server mx1 with 1 standby IP, no sending IP yet)`,
  );
  const ask = async (what: string, kind: string, params: Record<string, unknown>): Promise<ServiceRequest> => {
    say(`POST /tenants/demo-acme/requests ${JSON.stringify({ kind, params })}  (${what})`);
    const r = await env.api<ServiceRequest>("POST", "/tenants/demo-acme/requests", { kind, params, requester: "dashboard user ana@acme" });
    const started = Date.now();
    return env.settle(r.body.id, (status, row) =>
      detail(
        `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${status}${status === "confirmed" && row.commit ? ` (commit ${row.commit.slice(0, 10)} pushed)` : ""}${row.failureReason && ["rejected", "failed"].includes(status) ? `: ${row.failureReason}` : ""}`,
      ),
    );
  };
  const ips = async () =>
    (
      await env.api<{
        ips: Array<{
          ip: string;
          role: string;
          status: string;
          ptr: string;
          monthlyUsd: number;
          warmup: { day: number; maxMessages: number };
        }>;
      }>("GET", "/tenants/demo-acme/ips")
    ).body.ips;
  try {
    const a = await ask("the dashboard's 'Request additional IPs'", "acquire_ips", { server: "mx1", count: 2 });
    for (const b of a.result?.bought ?? []) detail(`bought ${b.ip} (${b.ptr ?? "?"})`);
    detail(`monthly cost now $${a.result?.monthlyCostUsd?.toFixed(2)}`);
    say("GET /tenants/demo-acme/ips");
    for (const i of await ips())
      detail(
        `${i.ip.padEnd(15)} ${i.role.padEnd(8)} ${i.status.padEnd(9)} PTR ${i.ptr.padEnd(28)} warm-up day ${i.warmup.day}: up to ${i.warmup.maxMessages} messages`,
      );

    await ask("two more: over the $25 budget", "acquire_ips", { server: "mx1", count: 2 });
    detail(
      `nothing bought: the stand-in's ledger still has ${env.sim.ledger(env.hostwindsKey).filter((e) => e.event === "bought").length} purchases`,
    );

    const sending = (await ips()).filter((i) => i.role === "sending");
    const p = await ask(`the dashboard's 'Switch to backup IP' for ${sending[0].ip}`, "pause_ip", { ip: sending[0].ip });
    detail(`now sending: ${p.result?.nowSending?.join(", ")}`);

    await ask(`release ${sending[1].ip}`, "release_ip", { ip: sending[1].ip });
    await reputationDemo(env, say, detail, ask);

    say("What each part says now");
    for (const e of env.sim.ledger(env.hostwindsKey))
      detail(`ledger  ${e.event.padEnd(8)} ${e.kind.padEnd(6)} ${e.ip ?? e.name ?? ""}  $${e.monthlyUsd}/month`);
    env.repo.git("fetch", "-q", "origin");
    for (const l of env.repo.git("log", "--format=%h %s", "origin/main").split("\n")) detail(`git     ${l}`);
    for (const i of await ips()) detail(`ips     ${i.ip.padEnd(15)} ${i.role.padEnd(8)} ${i.status}`);
    await consoleDemo(env, say, detail);
  } finally {
    say("Stopping the service, Postgres and the stand-ins");
    await env.stop();
  }
}
