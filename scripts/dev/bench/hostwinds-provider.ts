/**
 * The Hostwinds provider through the real engine against the stand-in:
 * - the size of `__provider` in each resource's state (target < 4 KB);
 * - Hostwinds calls per `pulumi refresh` of 1 server with N IPs
 *   (target: 1 server read + 1 IP listing per server, whatever N);
 * - `up` from 0 to N IPs with the stand-in's IP provisioning delay D, against
 *   the floor serialized purchases impose (N×D), as a ratio (target < 1.2).
 */
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, programDir } from "../../lib/engine/pulumi-env";
import { HostwindsSim } from "../standins/hostwinds";

const KEY = "bench-key-0123456789";

export interface ProviderBenchOptions {
  refreshSizes: number[];
  ipCount: number;
  ipDelayMs: number;
  progress: (line: string) => void;
}

export interface ProviderBenchResult {
  providerBytes: { max: number; resources: number; stateBytes: number };
  refreshCalls: Array<{ ips: number; calls: Record<string, number>; total: number }>;
  upFromZero: {
    ips: number;
    ipDelayMs: number;
    seconds: number;
    floorSeconds: number;
    ratio: number;
    noopUpSeconds: number;
    ratioWithoutEngine: number;
  };
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

export async function providerBench(o: ProviderBenchOptions): Promise<ProviderBenchResult> {
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 50 }).start();
  const dir = programDir("bench-hostwinds", "test/fixtures/hostwinds");
  const stacks: Stack[] = [];
  const stack = async (tenant: string, ipCount: number) => {
    const s = await localStack(`${tenant}-${process.pid}`, dir, { backend: "bench" });
    stacks.push(s);
    await s.setAllConfig({
      // The production rate limit (2/s), so the up-time ratio includes what it costs.
      ...sim.stackConfig(KEY, { pollIntervalMs: 250, requestsPerSecond: 2 }),
      tenant: { value: tenant },
      ipCount: { value: String(ipCount) },
    });
    return s;
  };
  try {
    const refreshCalls: ProviderBenchResult["refreshCalls"] = [];
    let providerBytes = { max: 0, resources: 0, stateBytes: 0 };
    for (const n of o.refreshSizes) {
      o.progress(`refresh: up of 1 server with ${n} IPs`);
      const s = await stack(`bench-r${n}`, n);
      await s.up();
      const state = await s.exportStack();
      const sizes = state.deployment.resources
        .filter((r: { type: string }) => r.type.startsWith("pulumi-nodejs:dynamic/"))
        .map((r: { outputs: { __provider: string } }) => Buffer.byteLength(r.outputs.__provider));
      providerBytes = {
        max: Math.max(providerBytes.max, ...sizes),
        resources: sizes.length,
        stateBytes: Buffer.byteLength(JSON.stringify(state)),
      };
      o.progress(`refresh: 1 server with ${n} IPs`);
      sim.requests.clear();
      await s.refresh();
      const calls = Object.fromEntries(sim.requests);
      refreshCalls.push({ ips: n, calls, total: Object.values(calls).reduce((a, b) => a + b, 0) });
      await s.destroy();
    }

    o.progress(`up: 1 server, no IPs`);
    const s = await stack("bench-up", 0);
    await s.up();
    const [, noopUpSeconds] = await timed(() => s.up());
    sim.setTiming({ ipDelayMs: o.ipDelayMs });
    await s.setConfig("ipCount", { value: String(o.ipCount) });
    o.progress(`up: 0 → ${o.ipCount} IPs, each taking ${o.ipDelayMs} ms to appear`);
    const mark = sim.ledger(KEY).length;
    const [upResult, seconds] = await timed(() => s.up());
    if (process.env.HOSTWINDS_LOG === "1") process.stderr.write(upResult.stdout);
    const buys = sim
      .ledger(KEY)
      .slice(mark)
      .filter((e) => e.kind === "ip" && e.event === "bought")
      .map((e) => Date.parse(e.at));
    process.stderr.write(
      `  … gaps between IP purchases (ms): ${buys
        .slice(1)
        .map((t, i) => t - buys[i])
        .join(", ")}\n`,
    );
    await s.destroy();
    const floorSeconds = (o.ipCount * o.ipDelayMs) / 1000;
    return {
      providerBytes,
      refreshCalls,
      upFromZero: {
        ips: o.ipCount,
        ipDelayMs: o.ipDelayMs,
        seconds,
        floorSeconds,
        ratio: seconds / floorSeconds,
        noopUpSeconds,
        ratioWithoutEngine: (seconds - noopUpSeconds) / floorSeconds,
      },
    };
  } finally {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    await sim.stop();
  }
}

export function printProviderBench(r: ProviderBenchResult): void {
  console.log("Hostwinds provider through the engine (stand-in on loopback)");
  console.log(
    `  __provider per resource: ${r.providerBytes.max} bytes at most over ${r.providerBytes.resources} dynamic resources (target < 4096); whole state ${r.providerBytes.stateBytes} bytes`,
  );
  for (const c of r.refreshCalls) {
    const detail = Object.entries(c.calls)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    console.log(`  refresh of 1 server + ${String(c.ips).padStart(2)} IPs: ${c.total} Hostwinds calls (${detail}) (target 2)`);
  }
  const u = r.upFromZero;
  console.log(
    `  up 0 → ${u.ips} IPs, ${u.ipDelayMs} ms each: ${u.seconds.toFixed(1)} s against a floor of ${u.floorSeconds.toFixed(1)} s: ratio ${u.ratio.toFixed(2)} (target < 1.2)`,
  );
  console.log(
    `    an up with nothing to do takes ${u.noopUpSeconds.toFixed(1)} s on this machine; without it the ratio is ${u.ratioWithoutEngine.toFixed(2)}`,
  );
}
