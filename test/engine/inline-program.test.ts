/**
 * The tenant program run inline in a long-lived engine worker (`fleet preview/up --inline`,
 * scripts/lib/stacks/engine-workers.ts) gives the same result as the CLI program (a Node process
 * per run): one tenant is applied with the CLI program, then previewed and applied again inline,
 * on the stand-ins and a local backend. Inline sees nothing to change, and the checkpoint's
 * resources (URN, type, inputs) and the stack outputs are identical before and after. A tenant
 * whose config the program refuses fails with its own errors inline too, without ending the
 * worker, which takes the next tenant. The fleet's up runs no CLI command after `pulumi up` to
 * build a result it does not read (no `stack output`, no `stack history`).
 */
import { fleetPreview, fleetUp } from "../../scripts/cli/fleet/commands";
import { engineWorkerPids, engineWorkersStarted } from "../../scripts/lib/stacks/engine-workers";
import { fleetWorkspace } from "../../scripts/lib/stacks/stacks";
import { TenantChange } from "../../scripts/lib/stacks/changes";
import { ENGINE_TEST_CEILING_MS } from "./harness";
import { StandinFleet, startStandinFleet } from "./standin-fleet";

jest.setTimeout(ENGINE_TEST_CEILING_MS);

interface Checkpoint {
  resources: Array<{ urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }>;
}

/**
 * What must not differ between the two programs: each resource's URN, type and inputs, by URN (the
 * checkpoint lists resources in the order the run registered them, which parallel steps vary).
 */
const resourcesOf = (c: Checkpoint) =>
  c.resources.map((r) => ({ urn: r.urn, type: r.type, inputs: r.inputs ?? {} })).sort((a, b) => a.urn.localeCompare(b.urn));
const stackOutputs = (c: Checkpoint) => c.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs ?? {};
const changed = (c: TenantChange) =>
  [c.servers, c.ips, c.dns].flatMap((x) => Object.entries(x).flatMap(([op, names]) => names.map((n) => `${op} ${n}`)));

describe("the tenant program inline in an engine worker", () => {
  let fleet: StandinFleet;
  const opts = (inline: boolean) => fleet.options({ inline });
  const checkpoint = async (tenant: string) => (await (await fleet.stackOf(tenant)).exportStack()).deployment as Checkpoint;

  beforeAll(async () => {
    // A starter tenant may not have 40 IPs: ib's program stops with its own error.
    fleet = await startStandinFleet("inline-program", { buildMs: 200, ipDelayMs: 150 }, { ia: { sendingIps: 2 }, ib: { sendingIps: 40 } });
  });
  afterAll(() => fleet.stop(["ia"]));

  test("applied by the CLI program, the inline program previews and applies no change: same resources, inputs and outputs", async () => {
    // Every CLI command the up runs in this process (pool slot 0's workspace).
    // (PulumiCommand.run is what Stack runs every command through; its declaration is internal.)
    const { project, localBackend } = opts(false);
    const command = (await fleetWorkspace(project, { localBackend })).pulumiCommand;
    const cli = jest.spyOn(command as unknown as { run: (args: string[], ...rest: unknown[]) => Promise<unknown> }, "run");
    const [byCli] = await fleetUp(opts(false), ["ia"]);
    const commands = cli.mock.calls.map(([args]) => args.join(" "));
    cli.mockRestore();
    expect(byCli.error ?? "").toBe("");
    expect(changed(byCli).length).toBeGreaterThan(0);
    // The up ran (a second time once the stack was created: onTenantStack), and nothing after it
    // only to build Stack.up's result (withoutUpResult).
    const ups = commands.filter((c) => c.startsWith("up "));
    expect(ups.length).toBeGreaterThan(0);
    expect(commands.slice(commands.lastIndexOf(ups[ups.length - 1]) + 1)).toEqual([]);
    expect(commands.filter((c) => /^stack (output|history)/.test(c))).toEqual([]);
    const before = await checkpoint("ia");

    const [preview] = await fleetPreview(opts(true), ["ia"]);
    expect(preview.error ?? "").toBe("");
    expect(preview.status).toBe("ok");
    expect(changed(preview)).toEqual([]);
    const worker = engineWorkerPids();
    expect(worker).toHaveLength(1);

    const [up] = await fleetUp(opts(true), ["ia"]);
    expect(up.error ?? "").toBe("");
    expect(changed(up)).toEqual([]);
    // The same worker process ran both: the program loaded once.
    expect(engineWorkerPids()).toEqual(worker);

    const after = await checkpoint("ia");
    expect(resourcesOf(after)).toEqual(resourcesOf(before));
    expect(stackOutputs(after)).toEqual(stackOutputs(before));
    expect(Object.keys(stackOutputs(after)).length).toBeGreaterThan(0);
  });

  test("a config the program refuses fails that tenant inline with its errors; the worker lives on for the next", async () => {
    const [bad, good] = await fleetPreview(opts(true), ["ib", "ia"]);
    expect(bad.status).toBe("failed");
    expect(bad.error).toMatch(/ib/);
    expect(good.status).toBe("ok");
    expect(changed(good)).toEqual([]);
    expect(engineWorkerPids()).toHaveLength(1);
  });

  test("a worker past its share of tenants is retired; the slot's next tenant starts a new one (memory stays bounded)", async () => {
    const startedBefore = engineWorkersStarted();
    process.env.PENGUINMAILS_TENANTS_PER_WORKER = "1";
    try {
      const changes = await fleetPreview(opts(true), ["ia", "ib", "ia"]);
      expect(changes.map((c) => c.status)).toEqual(["ok", "failed", "ok"]);
      // The worker of the tests above had served its one: retired after the first; one new worker each for the others.
      expect(engineWorkersStarted() - startedBefore).toBe(2);
      expect(engineWorkerPids()).toEqual([]);
    } finally {
      delete process.env.PENGUINMAILS_TENANTS_PER_WORKER;
    }
  });
});
