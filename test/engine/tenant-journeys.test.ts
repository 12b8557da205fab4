/**
 * A customer's whole life through the service, driven only over HTTP as the platform drives it
 * (issue 25): onboarding a tenant with two domains in two zones, both verified; the same onboarding
 * again (the same request) and another config for the id (409 naming what differs); a domain whose
 * zone is not on the account and a name that is not registrable, refused before any commit; a third
 * domain added later and verified; a record changed by hand in Cloudflare → `failing` with its hint,
 * a webhook, then repaired by the next apply; offboarding (the stack's state archived, every
 * purchase released, the ledger balanced, the config file gone); the same id onboarded again.
 * The stand-ins are set up here (that is not the platform's part); MailU is left out (Pulumi.yaml
 * of the config repository says installMailu: false), as in test/engine/service.test.ts.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { devDir, projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim, nameServersOf } from "../../scripts/dev/standins/cloudflare";
import { DnsSim } from "../../scripts/dev/standins/dns";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import {
  ConfigRepoFixture,
  ServiceProcess,
  WebhookReceiver,
  makeConfigRepo,
  startServiceProcess,
  startWebhookReceiver,
} from "../../scripts/dev/service-harness";
import { standinEnv } from "../../scripts/dev/standins/env";

const KEY = "sim-key-journeys-0123456789";
const CF_TOKEN = "sim-cf-token-journeys-0123456789";
const SECRET = "webhook-secret-for-journeys";
const BACKEND = `journeys-${process.pid}`;
jest.setTimeout(30 * 60_000);

const acme = {
  id: "acme",
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
  records: Array<{ type: string; name: string; state: string; hint?: string }>;
}

describe("a customer's whole life through the service", () => {
  let pg: PrivatePostgres;
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let authoritative: DnsSim;
  let resolver: DnsSim;
  /** Where the resolvers see a zone delegated (none: no NS answer, no delegation hint). */
  const delegation = new Map<string, string[]>();
  let repo: ConfigRepoFixture;
  let service: ServiceProcess;
  let receiver: WebhookReceiver;
  const dir = path.join(devDir, "work", BACKEND);
  let token = "";

  const api = async <T = Record<string, unknown>>(method: string, p: string, body?: unknown) => {
    const res = await fetch(`${service.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const settled = async (id: string): Promise<Req> => {
    const until = Date.now() + 10 * 60_000;
    for (;;) {
      const r = (await api<Req>("GET", `/requests/${id}`)).body;
      if (["assigned", "released", "rejected", "failed", "cancelled"].includes(r.status)) return r;
      if (Date.now() > until) throw new Error(`request ${id} still ${r.status}\n${service.output().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const domain = async (d: string) => (await api<Domain>("GET", `/tenants/acme/domains/${d}`)).body;
  const waitFor = async (what: string, ok: () => Promise<boolean>) => {
    const until = Date.now() + 3 * 60_000;
    while (!(await ok())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${service.output().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  };

  beforeAll(async () => {
    pg = await startPrivatePostgres("journeys-test");
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 300 }).start();
    // The token sees three zones; notours.com is on no account of ours.
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["acme-mail.com", "tryacme.io", "acmeoutreach.com"] } }).start();
    for (const z of ["acme-mail.com", "tryacme.io", "acmeoutreach.com", "notours.com"]) cf.addZone(z);
    const source = { records: () => cf.allRecords(), ptr: (ip: string) => sim.ptr(ip) };
    authoritative = await new DnsSim(source).start();
    resolver = await new DnsSim({ ...source, ns: (zone) => delegation.get(zone) }).start();
    receiver = await startWebhookReceiver(SECRET);
    repo = makeConfigRepo(path.join(dir, "repo"), []);
    // No MailU in this test: every stack of the repository gets installMailu: false (project-level config).
    fs.appendFileSync(path.join(repo.work, "Pulumi.yaml"), "config:\n  installMailu:\n    type: boolean\n    default: false\n");
    repo.git("commit", "-qam", "no MailU in the journeys");
    repo.git("push", "-q", "origin", "main");
    const env = { ...standinEnv(sim, KEY, cf, CF_TOKEN), PENGUINMAILS_WEBHOOK_SECRET: SECRET };
    token = execFileSync(
      process.execPath,
      [path.join(projectRoot, "dist/service/main.js"), "token", "--database", pg.url, "--caller", "platform", "--tenants", "*"],
      { encoding: "utf8", env: { ...process.env, ...env } },
    ).trim();
    service = await startServiceProcess(
      [
        ...["--database", pg.url, "--config-repo", repo.remote, "--clones", path.join(dir, "clones"), "--local-backend", BACKEND],
        ...["--concurrency", "2", "--monitor-every", "0", "--no-smtp"],
        ...["--webhook-url", receiver.url],
        ...["--authoritative", authoritative.address, "--resolvers", resolver.address, "--no-mta-sts"],
      ],
      env,
    );
  });

  afterAll(async () => {
    await service?.stop().catch(() => undefined);
    await pg?.stop();
    await sim?.stop();
    await cf?.stop();
    await authoritative?.stop();
    await resolver?.stop();
    receiver?.close();
    fs.rmSync(path.join(devDir, "backends", BACKEND), { recursive: true, force: true });
  });

  test("onboard, domains in their own zones, a hand-made change and its repair, offboard, onboard again", async () => {
    // Onboarding: two domains in two zones, both verified after the first up.
    const t0 = Date.now();
    const created = await api<Req>("POST", "/tenants", acme);
    expect(created.status).toBe(202);
    const onboarded = await settled(created.body.id);
    expect(onboarded).toMatchObject({ status: "assigned", failureReason: null });
    const first = await domain("acme-mail.com");
    const onboardMs = Date.now() - t0;
    expect(first).toMatchObject({ zone: "acme-mail.com", status: "verified", hints: [] });
    expect(await domain("tryacme.io")).toMatchObject({ zone: "tryacme.io", status: "verified" });
    expect(cf.records("tryacme.io").map((r) => `${r.type} ${r.name}`)).toEqual(
      expect.arrayContaining(["MX tryacme.io", "TXT _dmarc.tryacme.io"]),
    );
    console.log(`onboarding request → first domain verified: ${onboardMs} ms`);
    // The config file is committed with the stack's secrets provider.
    expect(repo.readTenant("acme")).toMatchObject({ id: "acme", domains: acme.domains });

    // The same onboarding again is the same request; another config for the id is 409 naming what differs.
    expect((await api<Req>("POST", "/tenants", acme)).body.id).toBe(created.body.id);
    const other = await api<{ code: string; detail: string }>("POST", "/tenants", { ...acme, tier: "scale" });
    expect(other.status).toBe(409);
    expect(other.body.detail).toContain('tier: "growth" → "scale"');

    // Refused before any commit: a zone not on the account, a name that is not registrable.
    const commits = repo.git("ls-remote", repo.remote, "main");
    const notOurs = await api<{ code: string; detail: string }>("POST", "/tenants/acme/domains", { name: "notours.com" });
    expect(notOurs.status).toBe(422);
    expect(notOurs.body.code).toBe("zone_not_on_account");
    expect(notOurs.body.detail).toContain("tenant acme: name: no zone holding notours.com is on the Cloudflare account");
    const suffix = await api<{ code: string }>("POST", "/tenants/acme/domains", { name: "co.uk" });
    expect([suffix.status, suffix.body.code]).toEqual([422, "not_registrable"]);
    expect(repo.git("ls-remote", repo.remote, "main")).toBe(commits);

    // A third domain added later, in its own zone, verified.
    const added = await api<Req>("POST", "/tenants/acme/domains", { name: "acmeoutreach.com", dmarcPolicy: "reject" });
    expect(added.status).toBe(202);
    expect((await settled(added.body.id)).status).toBe("assigned");
    expect(await domain("acmeoutreach.com")).toMatchObject({ zone: "acmeoutreach.com", status: "verified" });

    // NS still at the registrar's parking servers: the zone serves the MX, the resolvers do not, and the hint
    // names the two name servers Cloudflare assigned the zone (read from Cloudflare's zone list).
    delegation.set("acmeoutreach.com", ["ns1.parking.example", "ns2.parking.example"]);
    resolver.faults = { missing: new Set(["MX acmeoutreach.com"]) };
    const undelegated = (await api<Domain>("POST", "/tenants/acme/domains/acmeoutreach.com/verify", {})).body;
    expect(undelegated.status).toBe("failing");
    const cfNs = nameServersOf(cf.zoneIdOf("acmeoutreach.com")).join(", ");
    expect(undelegated.hints.join("\n")).toContain(`at the registrar set the name servers to ${cfNs}`);
    delegation.clear();
    resolver.faults = {};

    // A record changed by hand in Cloudflare: failing with the hint, a webhook; the next apply repairs it.
    const dmarc = cf.records("tryacme.io").find((r) => r.type === "TXT" && r.name === "_dmarc.tryacme.io")!;
    dmarc.content = "v=DMARC1; p=none";
    const failing = (await api<Domain>("POST", "/tenants/acme/domains/tryacme.io/verify", {})).body;
    expect(failing.status).toBe("failing");
    expect(failing.hints.join("\n")).toContain("a conflicting TXT record at _dmarc.tryacme.io (v=DMARC1; p=none)");
    await waitFor("the domain.status webhook", async () =>
      receiver.hooks.some(
        (h) => h.event === "domain.status" && (h.domain as Domain).domain === "tryacme.io" && (h.domain as Domain).status === "failing",
      ),
    );
    const removed = await api<Req>("DELETE", "/tenants/acme/domains/acmeoutreach.com");
    expect((await settled(removed.body.id)).status).toBe("released");
    expect(cf.records("acmeoutreach.com")).toEqual([]);
    expect(await domain("tryacme.io")).toMatchObject({ status: "verified" });
    expect(cf.records("tryacme.io").find((r) => r.name === "_dmarc.tryacme.io")?.content).toContain("p=quarantine");

    // Offboarding: the state archived, every purchase released, the ledger balanced, the config gone.
    const off = await api<Req>("DELETE", "/tenants/acme");
    expect(off.status).toBe(202);
    const done = await settled(off.body.id);
    expect(done.status).toBe("released");
    const result = done.result as { stateBackup: string; releasedIps: string[]; releasedServers: unknown[]; finalBackups: unknown[] };
    expect(fs.existsSync(result.stateBackup)).toBe(true);
    expect(result.releasedServers).toHaveLength(1);
    expect(result.releasedIps).toHaveLength(1);
    const ledger = sim.ledger(KEY);
    for (const kind of ["server", "ip"])
      expect(ledger.filter((e) => e.kind === kind && e.event === "released").length).toBe(
        ledger.filter((e) => e.kind === kind && e.event === "bought").length,
      );
    expect(sim.inventory(KEY)).toEqual([]);
    expect([...cf.records("acme-mail.com"), ...cf.records("tryacme.io")]).toEqual([]);
    repo.git("pull", "-q", "--rebase", "origin", "main");
    expect(fs.existsSync(path.join(repo.work, "stacks", "Pulumi.acme.yaml"))).toBe(false);
    expect((await api<{ status: string }>("GET", "/tenants/acme")).body.status).toBe("offboarded");

    // The same id onboarded again starts clean.
    const again = await api<Req>("POST", "/tenants", acme);
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(created.body.id);
    expect(await settled(again.body.id)).toMatchObject({ status: "assigned", failureReason: null });
    expect(await domain("tryacme.io")).toMatchObject({ status: "verified" });
  });
});
