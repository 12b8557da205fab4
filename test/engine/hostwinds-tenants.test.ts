/**
 * Two tenants on one Hostwinds account: no config of tenant B (adopting A's server or IP, the
 * same tenant id in another stack, names that would collide under a prefix scheme, and destroy
 * after each) changes anything of A. Each stops with a message naming both owners.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { serverMarkOf } from "./harness";

const KEY = "sim-key-tenants-0123456789";
const BACKEND = "hostwinds-tenants";

jest.setTimeout(15 * 60_000);

describe("two tenants on one account", () => {
  const dir = programDir("hostwinds-provider", "test/fixtures/hostwinds");
  const stacks: Stack[] = [];
  const logs: string[] = [];
  const out = { onOutput: (s: string) => logs.push(s), onError: (s: string) => logs.push(s) };
  let sim: HostwindsSim;

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 300 }).start();
  });
  afterAll(async () => {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    await sim.stop();
  });

  async function tenantStack(stackName: string, tenant: string, config: Record<string, string> = {}, backend = BACKEND): Promise<Stack> {
    const stack = await localStack(`${stackName}-${process.pid}`, dir, { backend });
    stacks.push(stack);
    await stack.setAllConfig({
      ...sim.stackConfig(KEY),
      tenant: { value: tenant },
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { value: v }])),
    });
    return stack;
  }
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => "succeeded",
      (e: Error) => e.message,
    );
  /** Everything of the account as the panel shows it, with rDNS: what tenant A must keep. */
  const world = () => JSON.stringify(sim.inventory(KEY).map((s) => ({ ...s, rdns: s.ips.map((ip) => sim.ptr(ip) ?? "") })));
  const purchases = () => sim.ledger(KEY).filter((e) => e.event === "bought").length;

  test("B cannot adopt, take over or release anything of A, whatever B's config says", async () => {
    const a = await tenantStack("alpha", "alpha", { ipCount: "2", serverName: "eu-mx1" });
    const upA = await a.up(out);
    const aId = upA.outputs.serviceId.value as number;
    const aIps = upA.outputs.ips.value as string[];
    const snapshot = world();

    // Names that a prefix scheme would confuse: tenant alpha-eu, server mx1 vs tenant alpha, server eu-mx1.
    const collide = await tenantStack("alpha-eu", "alpha-eu", { ipCount: "1", serverName: "mx1" });
    const upC = await collide.up(out);
    expect(upC.outputs.serviceId.value).not.toBe(aId);
    expect(upC.outputs.serverName.value).toBe(await serverMarkOf(collide, "alpha-eu", "mx1"));
    expect(upC.outputs.serverName.value).not.toBe(upA.outputs.serverName.value);
    await collide.destroy(out);
    expect(world()).toBe(snapshot);

    // B adopts A's server and one of A's IPs on it.
    const b = await tenantStack("bravo", "bravo", { ipCount: "1", adoptServiceId: String(aId), adoptIps: JSON.stringify([aIps[0]]) });
    let bought = purchases();
    const adopt = await failure(b.up(out));
    expect(adopt).toContain(`refusing to adopt server ${aId}`);
    expect(adopt).toContain(`marked ${upA.outputs.serverName.value}, another tenant's server`);
    expect(adopt).toContain(`this resource is tenant bravo, server mx1, stack bravo-${process.pid}`);
    expect(purchases()).toBe(bought);
    await b.destroy(out);
    expect(world()).toBe(snapshot);

    // The same tenant id in another stack stops before buying anything.
    const twin = await tenantStack("alpha-twin", "alpha", { ipCount: "1", serverName: "mx9" });
    bought = purchases();
    const same = await failure(twin.up(out));
    expect(same).toContain(`tenant alpha is already managed by another stack, project or backend (server ${aId}`);
    expect(same).toContain(`this stack (alpha-twin-${process.pid}`);
    expect(same).toContain("claims the same tenant id");
    expect(purchases()).toBe(bought);
    await twin.destroy(out);
    expect(world()).toBe(snapshot);

    // The same stack name and config on another backend (issue 31 item 3): another owner, refused before buying.
    const elsewhere = await tenantStack("alpha", "alpha", { ipCount: "2", serverName: "eu-mx1" }, `${BACKEND}-other`);
    bought = purchases();
    const moved = await failure(elsewhere.up(out));
    expect(moved).toContain("tenant alpha is already managed by another stack, project or backend");
    expect(purchases()).toBe(bought);
    await elsewhere.destroy(out);
    expect(world()).toBe(snapshot);

    // A foreign service id in state (a mistyped import id; issue 31 item 4): refresh, up and destroy refuse,
    // even with state's recorded name copied from the live server.
    const typo = await tenantStack("typo", "typo", { ipCount: "0" });
    const own = (await typo.up(out)).outputs.serviceId.value as number;
    const exported = await typo.exportStack();
    const inst = (exported.deployment.resources as Array<{ type: string; id: string; outputs: Record<string, unknown> }>).find((r) =>
      r.type.endsWith("hostwinds:Instance"),
    )!;
    inst.id = String(aId);
    inst.outputs.serverName = upA.outputs.serverName.value;
    await typo.importStack(exported);
    expect(await failure(typo.refresh(out))).toContain(`refusing to refresh server ${aId}`);
    expect(await failure(typo.destroy(out))).toContain(`refusing to terminate server ${aId}`);
    expect(sim.inventory(KEY).some((i) => i.serviceId === aId)).toBe(true);
    inst.id = String(own);
    inst.outputs.serverName = await serverMarkOf(typo, "typo");
    await typo.importStack(exported);
    await typo.destroy(out);
    expect(world()).toBe(snapshot);

    // A's next refresh finds nothing changed.
    await a.preview({ refresh: true, expectNoChanges: true, ...out });
    await a.destroy(out);
  });
});
