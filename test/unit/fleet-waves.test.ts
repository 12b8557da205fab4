import { TenantChange } from "../../scripts/lib/stacks/changes";
import { inWaves, parseWaves, planWaves } from "../../scripts/cli/fleet/waves";

const tenants = (n: number) => Array.from({ length: n }, (_, i) => `t${String(i).padStart(4, "0")}`);
const change = (tenant: string, status: TenantChange["status"] = "ok") => ({ tenant, status }) as TenantChange;

describe("fleet up in waves", () => {
  test("1% → 10% → 100% of 1,000 tenants is 10, 90, 900; a small fleet still starts with one canary", () => {
    expect(planWaves(tenants(1000), [1, 10, 100]).map((w) => w.length)).toEqual([10, 90, 900]);
    expect(planWaves(tenants(3), [1, 10, 100]).map((w) => w.length)).toEqual([1, 2]);
    expect(planWaves(tenants(1), [1, 10, 100])).toEqual([["t0000"]]);
    expect(planWaves(tenants(5), [100])).toEqual([tenants(5)]);
  });

  test("--waves is checked: increasing percentages ending at 100", () => {
    expect(parseWaves(undefined)).toEqual([1, 10, 100]);
    expect(parseWaves("5%,50%,100%")).toEqual([5, 50, 100]);
    for (const bad of ["10,5,100", "1,10", "0,100", "x", "1,10,120"]) expect(() => parseWaves(bad)).toThrow(/increasing percentages/);
  });

  test("a blocked tenant in the first wave halts the rollout: no later wave starts", async () => {
    const started: string[] = [];
    const { results, outcome } = await inWaves(tenants(200), [1, 10, 100], async (batch, stopped, problem) => {
      const out: TenantChange[] = [];
      for (const t of batch) {
        if (stopped()) break;
        started.push(t);
        const c = change(t, t === "t0001" ? "blocked" : "ok");
        if (c.status !== "ok") problem(c);
        out.push(c);
      }
      return out;
    });
    expect(started).toEqual(["t0000", "t0001"]);
    expect(results.map((r) => r.status)).toEqual(["ok", "blocked"]);
    expect(outcome.halted).toMatchObject({ wave: 1, tenant: "t0001", status: "blocked" });
    expect(outcome.halted!.notRun).toHaveLength(198);
    expect(outcome.waves).toHaveLength(1);
  });
});
