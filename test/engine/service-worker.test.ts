/**
 * The service's `up` in the slot's long-lived engine worker (service/apply.ts, the fleet's
 * scripts/lib/stacks/engine-workers.ts): two requests in a row run in the same worker and no
 * program process is started for either (with `serve --no-inline` one is, per request: the same
 * watch sees it), and the rows move as the CLI program's did (confirmed, purchasing, assigned,
 * each IP recorded). A worker killed mid-purchase leaves the stack as a
 * killed CLI would (its lock, a pending operation): the request is tried again in a new worker,
 * the dead engine's lock is cleared, and it ends assigned with nothing bought twice.
 */
import * as fs from "fs";
import { ServiceEnvironment, ServiceRequest, startServiceEnvironment } from "../../scripts/dev/service-harness";
import { ENGINE_TEST_CEILING_MS, descendantsMatching, running } from "./harness";

jest.setTimeout(ENGINE_TEST_CEILING_MS);

const tenant = (id: string) => ({
  id,
  tier: "growth",
  monthlyBudgetUsd: 100,
  zone: `${id}-mail.com`,
  domains: [{ name: `${id}-mail.com` }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 0 }],
  warmup: "standard",
});

describe("the service's engine worker", () => {
  let env: ServiceEnvironment;
  const workers = () => descendantsMatching(env.service.proc.pid!, "engine-worker.js");
  const ask = async (t: string, count = 1) =>
    (await env.api<ServiceRequest>("POST", `/tenants/${t}/requests`, { kind: "acquire_ips", params: { server: "mx1", count } })).body.id;
  const ipsBought = () => env.sim.ledger(env.hostwindsKey).filter((e) => e.kind === "ip" && e.event === "bought");
  const waitUntil = async (what: string, ok: () => boolean) => {
    const until = Date.now() + 5 * 60_000;
    while (!ok()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${env.service.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /**
   * The command lines of the service's descendants while `f` runs, sampled every 50 ms (an engine
   * run lasts seconds: its language host, plugins and any program process are seen).
   */
  const watching = async <T>(f: () => Promise<T>): Promise<{ value: T; seen: string[] }> => {
    const seen = new Set<string>();
    const sample = () => {
      for (const pid of descendantsMatching(env.service.proc.pid!, "")) {
        try {
          seen.add(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim());
        } catch {
          // gone
        }
      }
    };
    const timer = setInterval(sample, 50);
    try {
      return { value: await f(), seen: [...seen] };
    } finally {
      clearInterval(timer);
    }
  };
  /** The CLI program's process: a language host runs @pulumi/pulumi's cmd/run/index.js with the project (another one runs the policy pack: cmd/run-policy-pack). */
  const programProcesses = (seen: string[]) => seen.filter((c) => /@pulumi\/pulumi\/cmd\/run\/index\.js /.test(c));

  beforeAll(async () => {
    env = await startServiceEnvironment({ name: "service-worker", tenants: [tenant("solo")], concurrency: 1 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  test("two requests in a row: the same worker runs both ups, no program process starts, and the rows move as before", async () => {
    const { value: first, seen: seenFirst } = await watching(async () => env.settle(await ask("solo")));
    expect(first.status).toBe("assigned");
    const [worker] = workers();
    expect(worker).toBeDefined();
    const { value: second, seen } = await watching(async () => env.settle(await ask("solo")));
    expect(seen.some((c) => /\bup\b/.test(c))).toBe(true); // the watch saw the CLI's up
    expect(programProcesses([...seenFirst, ...seen])).toEqual([]);
    expect(second.status).toBe("assigned");
    expect(second.events!.map((e) => e.status)).toEqual(["requested", "confirmed", "purchasing", "assigned"]);
    expect(second.result!.bought).toHaveLength(1);
    expect(workers()).toEqual([worker]);
  });

  test("the worker killed mid-purchase: tried again in a new worker, the dead engine's lock cleared, assigned, nothing bought twice", async () => {
    env.sim.setTiming({ buildMs: 200, ipDelayMs: 4000 });
    const before = ipsBought().length;
    const [worker] = workers();
    const id = await ask("solo");
    await waitUntil("a purchase", () => ipsBought().length > before);
    // The CLI the worker runs, which holds the stack's lock.
    const [cli] = descendantsMatching(worker, "\0up\0");
    expect(cli).toBeDefined();
    process.kill(worker, "SIGKILL");
    const done = await env.settle(id);
    env.sim.setTiming({ buildMs: 200, ipDelayMs: 300 });
    expect([done.status, done.failureReason]).toEqual(["assigned", null]);
    expect(ipsBought().length - before).toBe(1);
    expect(done.result!.bought).toHaveLength(1);
    // Its whole group went with it, as a killed CLI's run ends; the next try cleared the lock it left.
    expect(running(cli)).toBe(false);
    expect(env.service.output()).toMatch(/engine worker .* exited \(SIGKILL\) while running this tenant/);
    expect(env.service.output()).toMatch(new RegExp(`request ${id} \\(solo\\): cleared the stack lock of an engine that was killed`));
    expect(workers()).not.toContain(worker);
    expect(fs.existsSync(`/proc/${worker}`)).toBe(false);
  });

  test("serve --no-inline: the CLI program per request (its program process seen), the rows moving the same", async () => {
    await env.restart(["--no-inline"]);
    const { value: done, seen } = await watching(async () => env.settle(await ask("solo")));
    expect(done.status).toBe("assigned");
    expect(done.events!.map((e) => e.status)).toEqual(["requested", "confirmed", "purchasing", "assigned"]);
    expect(done.result!.bought).toHaveLength(1);
    expect(programProcesses(seen).length).toBeGreaterThan(0);
    expect(workers()).toEqual([]);
  });
});
