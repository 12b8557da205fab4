import { engineWorkersStarted, tenantsPerWorker } from "../../scripts/lib/stacks/engine-workers";
import { fleetPreview } from "../../scripts/cli/fleet/commands";
import type { FleetOptions } from "../../scripts/cli/fleet/options";

describe("tenants per engine worker (PENGUINMAILS_TENANTS_PER_WORKER)", () => {
  test("100 by default, a whole number as given, 0 never retires", () => {
    expect(tenantsPerWorker({})).toBe(100);
    expect(tenantsPerWorker({ PENGUINMAILS_TENANTS_PER_WORKER: "" })).toBe(100);
    expect(tenantsPerWorker({ PENGUINMAILS_TENANTS_PER_WORKER: "250" })).toBe(250);
    expect(tenantsPerWorker({ PENGUINMAILS_TENANTS_PER_WORKER: "0" })).toBe(0);
  });

  test.each(["-1", "1.5", "many"])("%s is refused naming the variable and what to give", (raw) => {
    expect(() => tenantsPerWorker({ PENGUINMAILS_TENANTS_PER_WORKER: raw })).toThrow(
      `PENGUINMAILS_TENANTS_PER_WORKER=${raw}: give a whole number of tenants (0: a worker is never retired)`,
    );
  });
});

test("a bad PENGUINMAILS_TENANTS_PER_WORKER fails each tenant naming it, before any worker or engine starts", async () => {
  process.env.PENGUINMAILS_TENANTS_PER_WORKER = "ten";
  try {
    const o = { project: {} as FleetOptions["project"], inline: true, concurrency: 1 } as FleetOptions;
    const changes = await fleetPreview(o, ["acme", "globex"]);
    expect(changes.map((c) => [c.tenant, c.status])).toEqual([
      ["acme", "failed"],
      ["globex", "failed"],
    ]);
    for (const c of changes) expect(c.error).toMatch(/PENGUINMAILS_TENANTS_PER_WORKER=ten: give a whole number of tenants/);
    expect(engineWorkersStarted()).toBe(0);
  } finally {
    delete process.env.PENGUINMAILS_TENANTS_PER_WORKER;
  }
});
