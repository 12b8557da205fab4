/**
 * The `npm run demo -- --service` section of a customer's whole life, through HTTP only, as the
 * platform drives it: a tenant onboarded with two domains in two zones, both verified; a third
 * domain added; a record changed by hand in Cloudflare so one domain fails, with its hint; the
 * tenant offboarded with its final backups; the Hostwinds account's ledger balanced. The
 * stand-ins, Postgres and the config repository are set up first (not the platform's part).
 */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { devDir, projectRoot } from "../lib/engine/pulumi-env";
import { HostwindsSim } from "./standins/hostwinds";
import { CloudflareSim } from "./standins/cloudflare";
import { DnsSim } from "./standins/dns";
import { standinEnv } from "./standins/env";
import { startPrivatePostgres } from "./postgres";
import { makeConfigRepo, startServiceProcess } from "./service-harness";

const KEY = "demo-tenants-hostwinds-key-0123456789";
const CF_TOKEN = "demo-tenants-cf-token-0123456789";
const ZONES = ["acme-mail.com", "tryacme.io", "acmeoutreach.com"];
/** The stand-in's provisioning floor: what a server and its IP take at the least. */
const BUILD_MS = 200;
const IP_DELAY_MS = 300;
const FLOOR_MS = BUILD_MS + IP_DELAY_MS;
const TENANT = {
  id: "demo-acme",
  tier: "growth",
  monthlyBudgetUsd: 40,
  zone: "acme-mail.com",
  domains: [{ name: "acme-mail.com" }, { name: "tryacme.io", dmarcPolicy: "quarantine" }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }],
};

interface Req {
  id: string;
  status: string;
  failureReason: string | null;
  result: Record<string, unknown> | null;
}
interface Domain {
  domain: string;
  zone: string;
  status: string;
  hints: string[];
}

/** Postgres, the stand-ins (the Cloudflare token sees ZONES), two DNS servers, a config repository and the service on them. */
async function environment() {
  const backend = `demo-tenants-${process.pid}`;
  const dir = path.join(devDir, "work", backend);
  const pg = await startPrivatePostgres("demo-tenants");
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: BUILD_MS, ipDelayMs: IP_DELAY_MS }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ZONES } }).start();
  for (const z of ZONES) cf.addZone(z);
  const source = { records: () => cf.allRecords(), ptr: (ip: string) => sim.ptr(ip) };
  const authoritative = await new DnsSim(source).start();
  const resolver = await new DnsSim(source).start();
  const repo = makeConfigRepo(path.join(dir, "repo"), []);
  fs.appendFileSync(path.join(repo.work, "Pulumi.yaml"), "config:\n  installMailu:\n    type: boolean\n    default: false\n");
  repo.git("commit", "-qam", "no MailU in the demo");
  repo.git("push", "-q", "origin", "main");
  const env = standinEnv(sim, KEY, cf, CF_TOKEN);
  const token = execFileSync(
    process.execPath,
    [path.join(projectRoot, "dist/service/main.js"), "token", "--database", pg.url, "--caller", "platform", "--tenants", "*"],
    { encoding: "utf8", env: { ...process.env, ...env } },
  ).trim();
  const service = await startServiceProcess(
    [
      ...["--database", pg.url, "--config-repo", repo.remote, "--clones", path.join(dir, "clones"), "--local-backend", backend],
      ...["--monitor-every", "0", "--no-smtp", "--authoritative", authoritative.address, "--resolvers", resolver.address, "--no-mta-sts"],
    ],
    env,
  );
  return { backend, dir, pg, sim, cf, authoritative, resolver, service, token };
}

export async function tenantsDemo(say: (s: string) => void, detail: (s: string) => void): Promise<void> {
  say("A customer's whole life: private Postgres, the stand-ins (Cloudflare token sees 3 zones), DNS servers, the service");
  const { backend, dir, pg, sim, cf, authoritative, resolver, service, token } = await environment();
  const api = async <T>(method: string, p: string, body?: unknown) => {
    const res = await fetch(`${service.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const settle = async (what: string, method: string, p: string, body?: unknown): Promise<Req> => {
    say(`${method} ${p}${body ? ` ${JSON.stringify(body)}` : ""}  (${what})`);
    const t0 = Date.now();
    let r = (await api<Req>(method, p, body)).body;
    while (!["assigned", "released", "rejected", "failed", "cancelled"].includes(r.status)) {
      await new Promise((res) => setTimeout(res, 250));
      r = (await api<Req>("GET", `/requests/${r.id}`)).body;
    }
    detail(`${r.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s${r.failureReason ? `: ${r.failureReason}` : ""}`);
    return r;
  };
  const domains = async () => {
    for (const d of (await api<{ domains: Domain[] }>("GET", `/tenants/${TENANT.id}/domains`)).body.domains)
      detail(`${d.domain.padEnd(18)} zone ${d.zone.padEnd(18)} ${d.status}${d.hints.length ? `: ${d.hints.join("; ")}` : ""}`);
  };
  try {
    const t0 = Date.now();
    await settle("onboarding, two domains in two zones", "POST", "/tenants", TENANT);
    const first = TENANT.domains[0].name;
    while ((await api<Domain>("GET", `/tenants/${TENANT.id}/domains/${first}`)).body.status !== "verified") {
      if (Date.now() - t0 > 10 * 60_000) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const onboardMs = Date.now() - t0;
    detail(
      `onboarding request → ${first} verified: ${(onboardMs / 1000).toFixed(1)} s, ${(onboardMs / FLOOR_MS).toFixed(0)}× the provisioning floor (the stand-in's server build ${BUILD_MS} ms + IP delay ${IP_DELAY_MS} ms)`,
    );
    await domains();
    const refused = await api<{ code: string; detail: string }>("POST", `/tenants/${TENANT.id}/domains`, { name: "notours.com" });
    say(`POST /tenants/${TENANT.id}/domains {"name":"notours.com"} → ${refused.status} ${refused.body.code}: ${refused.body.detail}`);
    await settle("a third domain", "POST", `/tenants/${TENANT.id}/domains`, { name: "acmeoutreach.com", dmarcPolicy: "reject" });
    await domains();
    say("Someone edits _dmarc.tryacme.io by hand in Cloudflare; the customer presses 'Re-verify DNS'");
    cf.records("tryacme.io").find((r) => r.name === "_dmarc.tryacme.io")!.content = "v=DMARC1; p=none";
    const v = (await api<Domain>("POST", `/tenants/${TENANT.id}/domains/tryacme.io/verify`, {})).body;
    detail(`tryacme.io ${v.status}: ${v.hints.join("; ")}`);
    const off = await settle("offboarding", "DELETE", `/tenants/${TENANT.id}`);
    const r = off.result as {
      finalBackups: Array<{ server: string; status: string; detail: string }>;
      stateBackup: string;
      releasedIps: string[];
    };
    // This tenant's server runs no MailU (nothing to back up); the mailboxes part below offboards one that does.
    for (const b of r.finalBackups)
      detail(`final backup of ${b.server}: ${b.status} (no MailU on it; see the mailboxes part for one with MailU)`);
    detail(`state: ${path.relative(projectRoot, r.stateBackup)}; IPs released: ${r.releasedIps.join(", ")}`);
    const ledger = sim.ledger(KEY);
    const count = (event: string) => ledger.filter((e) => e.event === event).length;
    detail(`ledger: ${count("bought")} bought, ${count("released")} released; servers left in the account: ${sim.inventory(KEY).length}`);
  } finally {
    await service.stop().catch(() => undefined);
    await pg.stop();
    await sim.stop();
    await cf.stop();
    await authoritative.stop();
    await resolver.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(devDir, "backends", backend), { recursive: true, force: true });
  }
}
