/**
 * The tenant program (stacks/) through the real engine with the policy pack
 * (policies/), against the Hostwinds stand-in: config checks before any call,
 * outputs and cost, and the pack blocking over-limit and over-budget changes
 * before anything is bought.
 */
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir, projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { ENGINE_TEST_CEILING_MS, readAll } from "./harness";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { validTenant } from "../fixtures/tenant";

const KEY = "sim-key-tenant-0123456789";
const CF_TOKEN = "sim-cf-token-tenant-0123456789";
const POLICIES = path.join(projectRoot, "policies");

jest.setTimeout(ENGINE_TEST_CEILING_MS);

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

  const tenant = (over: Record<string, unknown> = {}) => validTenant({ warmup: "conservative", ...over });

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
      `stack ${stack.name}: tenant.servers[0].ipcount: unknown key; expected one of the documented keys (docs/operators.md, "Tenant stacks")`,
    ]);
    expect(text).toContain("5 problems in the tenant config (above); nothing was bought or created");
    expect(apiCalls()).toBe(calls);
  });

  test("every mistake before the first purchase: one line each (stack, key path, expected, found), reads only, nothing created", async () => {
    const stack = await tenantStack("before-buying", tenant({ id: "before-buying" }));
    const lines = (err: unknown) => [
      ...new Set(
        String((err as Error)?.message)
          .split("\n")
          .filter((l) => l.includes(`stack ${stack.name}: `))
          .map((l) => l.replace(/^.*?stack /, "stack ").trim()),
      ),
    ];
    const fail = async (t: unknown, op: "preview" | "up" = "preview") => {
      await stack.setConfig("tenant", { value: typeof t === "string" ? t : JSON.stringify(t) });
      return lines(
        await stack[op]().then(
          () => undefined,
          (e: Error) => e,
        ),
      );
    };
    const s = `stack ${stack.name}`;
    const reads = new Map(sim.requests);
    const records = cf.records("acme-mail.com").length;

    // What only the account can tell, all in one run; an up stops the same way, before any resource.
    const inAccount = tenant({
      id: "before-buying",
      servers: [
        { name: "mx1", location: 9, plan: 101, sendingIps: 1, sshKeys: ["nobody"], pausedIps: ["203.0.113.9"], retireIps: ["203.0.113.8"] },
      ],
    });
    const expected = [
      `${s}: tenant.servers[0].location: expected a location of the Hostwinds account (1 Seattle, WA, 2 Dallas, TX, 3 Amsterdam, NL), found 9`,
      `${s}: tenant.servers[0].pausedIps[0]: expected one of server mx1's secondary IPs (none: it is not bought yet), found "203.0.113.9"`,
      `${s}: tenant.servers[0].retireIps[0]: expected one of server mx1's secondary IPs (none: it is not bought yet), found "203.0.113.8"`,
      `${s}: tenant.servers[0].sshKeys[0]: expected the name of an SSH key in the Hostwinds account (none), found "nobody"`,
      `${s}: 4 problems in the tenant config against the Hostwinds account (above); nothing was bought or created`,
    ];
    expect(await fail(inAccount)).toEqual(expected);
    expect(await fail(inAccount, "up")).toEqual(expected);
    // Each catalogue list read once per run, nothing else asked of Hostwinds.
    const asked = [...sim.requests].filter(([a, n]) => n !== (reads.get(a) ?? 0)).map(([a, n]) => `${a} ${n - (reads.get(a) ?? 0)}`);
    // No image named: a new server gets the default, checked when it is bought, so no image list is read.
    expect(asked.sort()).toEqual(["get_instances 2", "get_locations 2", "get_price_list 2", "get_ssh_keys 2"]);
    expect(purchases()).toBe(0);
    const state = (await stack.exportStack()).deployment.resources ?? [];
    expect(state.filter((r: { type: string }) => !r.type.startsWith("pulumi:"))).toEqual([]);
    expect(cf.records("acme-mail.com")).toHaveLength(records);

    // What the config alone tells: no call to Hostwinds at all.
    const calls = apiCalls();
    expect(await fail("before-buying")).toEqual([
      `${s}: penguinmails-infra:tenant: expected the tenant object (id, tier, monthlyBudgetUsd, zone, domains, servers; see stacks/Pulumi.acme.yaml), found "before-buying"`,
      `${s}: 1 problem in the tenant config (above); nothing was bought or created`,
    ]);
    expect(await fail(tenant({ id: "before-buying", domains: [{ name: "acme-mail.com" }, { name: "acme-mail.com" }] }))).toContain(
      `${s}: tenant.domains[1].name: expected a domain not listed before ("acme-mail.com" is listed twice), found "acme-mail.com"`,
    );
    await stack.setConfig("hostwinds:requestsPerSecond", { value: "fast" });
    expect(await fail(tenant({ id: "before-buying" }))).toContain(
      `${s}: Hostwinds provider settings: config hostwinds:requestsPerSecond must be a number (got "fast")`,
    );
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
    expect(reported.length).toBe(3 + 3 + 13); // A and HELO SPF for the server and its 2 sending IPs; MX, SPF, DKIM, DMARC, 2 CNAME, 4 SRV, MTA-STS (2), TLS-RPT
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

    // Over the tier or the budget: the program itself refuses it in preview and in an up, buying nothing.
    const before = purchases();
    const refusal = async (t: unknown, op: "preview" | "up" = "preview", policyPackConfigs?: string[]) => {
      await stack.setConfig("tenant", { value: JSON.stringify(t) });
      return String(
        await stack[op]({ policyPacks: [POLICIES], policyPackConfigs }).then(
          () => "",
          (e: Error) => e.message,
        ),
      );
    };
    const threeIps = tenant({ servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 3 }], monthlyBudgetUsd: 50 });
    expect(await refusal(threeIps)).toContain(
      `stack ${stack.name}: tenant.servers[0].sendingIps: expected at most 2 IPs on one server on the starter tier (sendingIps + standbyIps), found 3`,
    );
    expect(await refusal(threeIps, "up")).toContain("refused by the program; nothing was bought or created");
    expect(await refusal(tenant({ monthlyBudgetUsd: 10 }))).toContain(
      `stack ${stack.name}: tenant.monthlyBudgetUsd: expected at least $14.97, what the config costs a month (over the budget by $4.97; remove servers or IPs, or raise the budget), found 10`,
    );
    expect(purchases()).toBe(before);

    // The policy pack is the second guard (for pipelines): with limits tighter than the program's, it refuses
    // what the program lets through, in the preview's stack policies and, before buying, on the tenant's plan.
    const cfgFile = path.join(devDir, `policy-config-${process.pid}.json`);
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        "tenant-config-within-limits": { tiers: { starter: { maxSendingIps: 1 } } },
        "sending-ips-within-tier": { tiers: { starter: { maxSendingIps: 1 } } },
      }),
    );
    const over = await refusal(tenant(), "preview", [cfgFile]);
    expect(over).toMatch(/mandatory.*sending-ips-within-tier|sending-ips-within-tier[\s\S]*mandatory/);
    expect(over).toContain("tenant acme (starter): 2 sending IPs, the starter tier allows 1; remove 1 or move the tenant to a larger tier");
    expect(over).toContain("tenant acme (starter): the config asks for 2 sending IPs, the starter tier allows 1");
    expect(await refusal(tenant(), "up", [cfgFile])).toMatch(/tenant-config-within-limits/);
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

  test("a second tenant naming another tenant's zone and domain is refused in preview, naming the owner; nothing of the owner changes (issue 31 item 2)", async () => {
    const owner = await tenantStack("zone-owner", tenant({ servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }] }));
    await owner.up();
    const before = JSON.stringify(cf.records("acme-mail.com"));
    expect(cf.records("acme-mail.com").every((r) => (r.comment ?? "").startsWith(`penguinmails-infra owner b=`))).toBe(true);
    const spent = purchases();
    const rival = await tenantStack(
      "zone-rival",
      tenant({ id: "globex", servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1 }] }),
    );
    const refused = await rival.preview().then(
      () => "",
      (e: Error) => e.message,
    );
    expect(refused).toContain("owned by tenant acme (stack zone-owner-");
    expect(refused).toContain("Nothing was created");
    expect(JSON.stringify(cf.records("acme-mail.com"))).toBe(before);
    // Its destroy (of nothing) and the owner's next preview leave the owner's records as they are.
    await rival.destroy();
    expect(JSON.stringify(cf.records("acme-mail.com"))).toBe(before);
    expect(purchases()).toBe(spent);
    await owner.destroy();
    expect(cf.records("acme-mail.com")).toEqual([]);
  });
});
