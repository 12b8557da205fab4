/**
 * The tenant program (stacks/) through the real engine with the policy pack
 * (policies/), against the Hostwinds stand-in: config checks before any call,
 * outputs and cost, and the pack blocking over-limit and over-budget changes
 * before anything is bought.
 */
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir, projectRoot } from "../../scripts/cli/engine/pulumi-env";
import { readAll } from "./harness";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";

const KEY = "sim-key-tenant-0123456789";
const CF_TOKEN = "sim-cf-token-tenant-0123456789";
const POLICIES = path.join(projectRoot, "policies");

jest.setTimeout(10 * 60_000);

describe("tenant stacks with the policy pack", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  const dir = programDir("tenant-stack", "stacks", "penguinmails-infra");
  const stacks: Stack[] = [];
  const apiCalls = () => [...sim.requests.values()].reduce((a, b) => a + b, 0);
  const purchases = () => sim.ledger(KEY).filter((e) => e.event === "bought").length;

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 200 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["acme-mail.com", "plainkey-mail.com"] } }).start();
    cf.addZone("acme-mail.com");
  });
  afterAll(async () => {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    await sim.stop();
    await cf.stop();
  });

  const tenant = (over: Record<string, unknown> = {}) => ({
    id: "acme",
    tier: "starter",
    monthlyBudgetUsd: 25,
    zone: "acme-mail.com",
    domains: [{ name: "acme-mail.com" }],
    servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2 }],
    warmup: "conservative",
    ...over,
  });

  async function tenantStack(name: string, t: unknown): Promise<Stack> {
    const stack = await localStack(`${name}-${process.pid}`, dir, { backend: "tenant-stack" });
    stacks.push(stack);
    await stack.setAllConfig({
      ...sim.stackConfig(KEY),
      ...cf.stackConfig(CF_TOKEN),
      // The MailU install is test/engine/mail-server.test.ts's subject; here: config, policies, DNS.
      installMailu: { value: "false" },
      tenant: { value: JSON.stringify(t) },
    });
    return stack;
  }

  test("a config with five mistakes gives five precise lines and makes no API call", async () => {
    const stack = await tenantStack(
      "mistakes",
      tenant({
        tier: "gold",
        monthlyBudgetUsd: "lots",
        domains: [{ name: "Acme Mail.com", dmarcPolicy: "rejekt" }],
        servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2, ipcount: 3 }],
      }),
    );
    const calls = apiCalls();
    const err = await stack.preview().then(
      () => undefined,
      (e: Error) => e,
    );
    const text = String(err?.message);
    const lines = text
      .split("\n")
      .filter((l) => l.includes(`stack ${stack.name}: tenant.`))
      .map((l) => l.replace(/^.*?stack /, "stack "));
    expect([...new Set(lines)]).toEqual([
      `stack ${stack.name}: tenant.tier: expected one of starter, growth, scale, found "gold"`,
      `stack ${stack.name}: tenant.monthlyBudgetUsd: expected a number of US dollars, found "lots"`,
      `stack ${stack.name}: tenant.domains[0].name: expected a lowercase domain name such as acme-mail.com, found "Acme Mail.com"`,
      `stack ${stack.name}: tenant.domains[0].dmarcPolicy: expected none, quarantine or reject, found "rejekt"`,
      `stack ${stack.name}: tenant.servers[0].ipcount: unknown key; expected one of the documented keys (README, "Tenant config")`,
    ]);
    expect(text).toContain("5 problems in the tenant config (above); nothing was created");
    expect(apiCalls()).toBe(calls);
  });

  test("an API key in plain text stops the run before anything is created", async () => {
    const stack = await tenantStack("plainkey", tenant({ id: "plainkey" }));
    await stack.setConfig("hostwinds:apiKey", { value: KEY, secret: false });
    const calls = apiCalls();
    await expect(stack.preview()).rejects.toThrow(
      /hostwinds:apiKey is in plain text in the stack's config; run `pulumi config set --secret hostwinds:apiKey/,
    );
    expect(apiCalls()).toBe(calls);
  });

  test("up within limits: outputs, cost and warm-up; the pack blocks one IP too many and a budget overrun, buying nothing", async () => {
    const stack = await tenantStack("acme", tenant());
    const up = await stack.up({ policyPacks: [POLICIES] });
    expect(up.summary.result).toBe("succeeded");
    expect(purchases()).toBe(3);
    const cost = up.outputs.monthlyCostUsd.value;
    expect(cost).toEqual({ totalUsd: 14.97, servers: [{ name: "mx1", serverUsd: 4.99, ipsUsd: 9.98, totalUsd: 14.97 }] });
    const ips = up.outputs.sendingIps.value as string[];
    expect(ips).toHaveLength(2);
    const warmup = up.outputs.warmup.value as Array<{
      ip: string;
      hostname: string;
      schedule: Array<{ day: number; maxMessages: number }>;
    }>;
    expect(warmup.map((w) => w.hostname)).toEqual(["mx1-ip1.acme-mail.com", "mx1-ip2.acme-mail.com"]);
    expect(warmup[0].schedule[0]).toEqual({ day: 1, maxMessages: 20 });

    // DNS: every record the stack reports is in the zone, A records resolve each host, SPF covers each IP.
    const published = cf.records("acme-mail.com");
    const reported = up.outputs.dnsRecords.value as Array<{ type: string; name: string; content: string }>;
    expect(published).toHaveLength(reported.length);
    expect(reported.length).toBe(3 + 13); // A for the server and its 2 sending IPs; MX, SPF, DKIM, DMARC, 2 CNAME, 4 SRV, MTA-STS (2), TLS-RPT
    for (const r of reported)
      expect(published.some((p) => p.type === r.type && p.name === r.name && (r.type === "SRV" || p.content === r.content))).toBe(true);
    const servers = up.outputs.servers.value as Array<{ name: string; mainIp: string }>;
    const a = (name: string) => published.find((p) => p.type === "A" && p.name === name)?.content;
    expect(a("mx1.acme-mail.com")).toBe(servers[0].mainIp);
    for (const w of warmup) expect(a(w.hostname)).toBe(w.ip);
    const spf = published.find((p) => p.type === "TXT" && p.name === "acme-mail.com")!.content;
    for (const ip of ips) expect(spf).toContain(`ip4:${ip}`);
    expect(published.every((p) => !p.proxied)).toBe(true);
    const dkim = published.find((p) => p.name === "pm1._domainkey.acme-mail.com")!.content;
    expect(dkim).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}=*$/);

    // A record deleted in the dashboard shows in refresh, and the next up puts it back.
    cf.deleteByHand("acme-mail.com", "_dmarc.acme-mail.com", "TXT");
    expect((await stack.refresh()).summary.resourceChanges).toMatchObject({ delete: 1 });
    await stack.up({ policyPacks: [POLICIES] });
    expect(cf.records("acme-mail.com").find((p) => p.name === "_dmarc.acme-mail.com")?.content).toBe(
      "v=DMARC1; p=none; rua=mailto:dmarc-reports@acme-mail.com; fo=1",
    );

    await stack.setConfig("tenant", {
      value: JSON.stringify(tenant({ servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 3 }] })),
    });
    const before = purchases();
    const over = await stack.preview({ policyPacks: [POLICIES] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(over?.message)).toMatch(/mandatory.*sending-ips-within-tier|sending-ips-within-tier[\s\S]*mandatory/);
    expect(String(over?.message)).toContain(
      "tenant acme (starter): 3 sending IPs, the starter tier allows 2; remove 1 or move the tenant to a larger tier",
    );
    expect(String(over?.message)).toContain("tenant acme (starter): the config asks for 3 sending IPs, the starter tier allows 2");
    // An up without a preview (the Automation API skips it) is stopped by the check on the plan, before any purchase.
    await expect(stack.up({ policyPacks: [POLICIES] })).rejects.toThrow(/tenant-config-within-limits/);
    expect(purchases()).toBe(before);

    await stack.setConfig("tenant", { value: JSON.stringify(tenant({ monthlyBudgetUsd: 10 })) });
    const broke = await stack.preview({ policyPacks: [POLICIES] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(broke?.message)).toContain(
      "tenant acme (starter): projected cost $14.97/month is over the budget of $10.00/month by $4.97",
    );
    expect(purchases()).toBe(before);

    await stack.setConfig("tenant", { value: JSON.stringify(tenant()) });
    const ok = await stack.preview({ policyPacks: [POLICIES], expectNoChanges: true });
    expect(Object.keys(ok.changeSummary)).toEqual(["same"]);
    // The DKIM private key and the tokens are in state only as ciphertext (exportStack would decrypt; read the files).
    const onDisk = readAll(path.join(devDir, "backends", "tenant-stack"));
    expect(onDisk).toContain("pulumi-nodejs:dynamic/penguinmails:DkimKey");
    for (const secret of ["BEGIN PRIVATE KEY", CF_TOKEN, KEY]) expect(onDisk.includes(secret) ? secret : "absent").toBe("absent");
    await stack.destroy();
    expect(sim.inventory(KEY)).toEqual([]);
    expect(cf.records("acme-mail.com")).toEqual([]);
  });
});
