/**
 * Fleet preview of N small tenant stacks against the stand-ins, side by side
 * in one run: plain `pulumi preview` one stack after another (what a loop in
 * a pipeline does) versus `fleet preview` (the pool, one Pulumi home per
 * slot), both with the policy pack; plus the fixed cost of one preview of an
 * empty program on the same engine, to show how much of a tenant's preview
 * is the engine's own overhead.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NODEJS_RUNTIME, devDir, engineEnv, projectRoot, workDirFor } from "../../lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { fleetPreview } from "../../cli/fleet/commands";
import { stopEngineWorkers } from "../../lib/stacks/engine-workers";
import { fleetProject } from "../../lib/stacks/tenants";
import { standinEnv } from "../standins/env";

const KEY = "bench-fleet-key-0123456789";
const CF_TOKEN = "bench-fleet-cf-token-0123456789";

export interface FleetBenchRow {
  stacks: number;
  sequentialS: number;
  fleetS: number;
  perStackSequentialS: number;
  perStackFleetS: number;
  /** CPU seconds per stack (this process and the engine processes it reaped). */
  cpuPerStackSequentialS: number;
  cpuPerStackFleetS: number;
  speedup: number;
  failed: number;
}
export interface FleetBenchResult {
  concurrency: number;
  /** The fleet side ran `--inline` (engine workers; counted with their start, stopped after each batch). */
  inline: boolean;
  rounds: number;
  emptyPreviewS: number;
  rows: FleetBenchRow[];
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${err.slice(-400)}`))));
  });
}

const seconds = async (f: () => Promise<unknown>) => {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};

/**
 * CPU seconds of this process and every child it has reaped (/proc/self/stat utime, stime,
 * cutime, cstime): the CLI runs, and through them the language host, program, policy pack and
 * providers they reaped. Linux only.
 */
function cpuSoFar(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Wall and CPU seconds of `f`. */
const measured = async (f: () => Promise<unknown>) => {
  const c0 = cpuSoFar();
  const wallS = await seconds(f);
  return { wallS, cpuS: cpuSoFar() - c0 };
};

/**
 * `rounds`: the stacks of each size go in that many batches, previewed one way then the other,
 * batch after batch (A B A B …), so a machine whose load changes during the run affects both.
 */
export async function fleetBench(
  sizes: number[],
  concurrency: number,
  progress: (l: string) => void,
  rounds = 2,
  inline = false,
): Promise<FleetBenchResult> {
  const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 100 }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
  const providerEnv = standinEnv(sim, KEY, cf, CF_TOKEN);
  Object.assign(process.env, providerEnv);
  const policies = path.join(projectRoot, "policies");
  try {
    // The engine's fixed cost: one preview of a program that declares nothing.
    const empty = workDirFor("bench-fleet-empty");
    fs.writeFileSync(path.join(empty, "Pulumi.yaml"), `name: empty\n${NODEJS_RUNTIME}`);
    fs.writeFileSync(path.join(empty, "index.js"), "module.exports = {};\n");
    const emptyEnv = engineEnv({ backend: "bench-fleet" });
    await run("pulumi", ["stack", "select", "--create", "empty"], empty, emptyEnv);
    const emptyPreviewS = await seconds(() => run("pulumi", ["preview", "--stack", "empty", "--non-interactive"], empty, emptyEnv));

    const rows: FleetBenchRow[] = [];
    for (const n of sizes) {
      const backend = `bench-fleet-${n}-${process.pid}`;
      const dir = workDirFor(`bench-fleet-${n}`);
      makeFleetProject(dir);
      const tenants = Array.from({ length: n }, (_, i) => `t${String(i).padStart(3, "0")}`);
      for (const t of tenants) {
        cf.addZone(`${t}-mail.com`);
        writeSmallTenant(dir, t);
      }
      const env: Record<string, string> = { ...engineEnv({ backend }), ...providerEnv };
      progress(`${n} stacks: creating them`);
      for (const t of tenants) await run("pulumi", ["stack", "init", t, "--non-interactive"], dir, env);

      // Side by side: the stacks in `rounds` batches, each batch previewed both ways in turn,
      // so that other load on a shared machine falls on both alike.
      const seq = { wallS: 0, cpuS: 0 };
      const fleet = { wallS: 0, cpuS: 0 };
      let failed = 0;
      const size = Math.ceil(n / Math.max(1, Math.min(rounds, n)));
      for (let i = 0; i < n; i += size) {
        const batch = tenants.slice(i, i + size);
        progress(`${n} stacks: ${batch[0]}–${batch[batch.length - 1]}: plain pulumi preview, one after another`);
        const s = await measured(async () => {
          for (const t of batch) await run("pulumi", ["preview", "--stack", t, "--non-interactive", "--policy-pack", policies], dir, env);
        });
        progress(`${n} stacks: ${batch[0]}–${batch[batch.length - 1]}: fleet preview, ${concurrency} at a time`);
        process.env.PULUMI_BACKEND_URL = env.PULUMI_BACKEND_URL;
        const f = await measured(async () => {
          const r = await fleetPreview({ project: fleetProject(dir), concurrency, policyPacks: [policies], inline }, batch);
          failed += r.filter((c) => c.status !== "ok").length;
          if (inline) await stopEngineWorkers(); // reaped inside the measure: their CPU, start included, counts
        });
        delete process.env.PULUMI_BACKEND_URL;
        seq.wallS += s.wallS;
        seq.cpuS += s.cpuS;
        fleet.wallS += f.wallS;
        fleet.cpuS += f.cpuS;
      }
      const [sequentialS, fleetS] = [seq.wallS, fleet.wallS];
      rows.push({
        stacks: n,
        cpuPerStackSequentialS: seq.cpuS / n,
        cpuPerStackFleetS: fleet.cpuS / n,
        sequentialS,
        fleetS,
        perStackSequentialS: sequentialS / n,
        perStackFleetS: fleetS / n,
        speedup: sequentialS / fleetS,
        failed,
      });
      fs.rmSync(path.join(devDir, "backends", backend), { recursive: true, force: true });
    }
    return { concurrency, inline, rounds, emptyPreviewS, rows };
  } finally {
    await sim.stop();
    await cf.stop();
  }
}

export function printFleetBench(r: FleetBenchResult): void {
  console.log(
    `\nFleet preview (${os.cpus().length} cores, fleet concurrency ${r.concurrency}${r.inline ? ", fleet --inline" : ""}, policy pack on, stand-ins on loopback, ${r.rounds} batches each way in turn)`,
  );
  console.log(`  empty program, one preview: ${r.emptyPreviewS.toFixed(1)} s (the engine's fixed cost per stack)`);
  console.log(
    `  load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log("  stacks  sequential   per stack   CPU/stack   fleet      per stack   CPU/stack   speed-up   failed");
  for (const x of r.rows) {
    console.log(
      `  ${String(x.stacks).padStart(6)}  ${x.sequentialS.toFixed(1).padStart(8)} s  ${x.perStackSequentialS.toFixed(2).padStart(7)} s  ${x.cpuPerStackSequentialS.toFixed(2).padStart(7)} s  ${x.fleetS.toFixed(1).padStart(7)} s  ${x.perStackFleetS.toFixed(2).padStart(7)} s  ${x.cpuPerStackFleetS.toFixed(2).padStart(7)} s  ${x.speedup.toFixed(2).padStart(7)}×  ${String(x.failed).padStart(6)}`,
    );
  }
  if (r.rows.length > 1) {
    const [a, b] = [r.rows[0], r.rows[r.rows.length - 1]];
    console.log(
      `  growth ${a.stacks} → ${b.stacks} stacks: sequential ×${(b.sequentialS / a.sequentialS).toFixed(2)}, fleet ×${(b.fleetS / a.fleetS).toFixed(2)} (linear would be ×${(b.stacks / a.stacks).toFixed(2)})`,
    );
  }
  const first = r.rows[0];
  if (first)
    console.log(`  a tenant's sequential preview is ${(first.perStackSequentialS / r.emptyPreviewS).toFixed(2)}× the empty program's`);
}
