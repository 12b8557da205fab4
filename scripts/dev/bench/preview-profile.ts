/**
 * Where one tenant preview spends its CPU: `pulumi preview` of a one-server tenant with the
 * policy pack, its process tree sampled from /proc every 20 ms (user + system time of each
 * process: the CLI, the language host, the program, the dynamic-provider processes, the policy
 * pack), summed by role. Linux only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { engineEnv, projectRoot, workDirFor } from "../../lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";

const KEY = "bench-profile-key-0123456789";
const CF_TOKEN = "bench-profile-cf-0123456789";
const TICK = 100; // USER_HZ on Linux

export interface ProfileResult {
  wallS: number;
  byRole: Array<{ role: string; processes: number; cpuS: number }>;
  /** Every process of the tree, busiest first: its role, command line (shortened) and CPU. */
  processes: Array<{ role: string; args: string; cpuS: number }>;
  totalCpuS: number;
}

/** A way of running the engine, compared side by side with the others: extra environment for every process. */
export interface ProfileVariant {
  name: string;
  env: Record<string, string>;
}

/** The variants the bench compares: Node's module compile cache off (as before) and on (engineEnv's default). */
export const COMPILE_CACHE_VARIANTS: ProfileVariant[] = [
  { name: "compile cache off", env: { NODE_DISABLE_COMPILE_CACHE: "1" } },
  { name: "compile cache on", env: {} },
];

export interface ProfileComparison {
  rounds: number;
  /** Per variant, the median over the rounds of each figure. */
  variants: Array<{ name: string; median: ProfileResult; runs: ProfileResult[] }>;
}

/** A command line without the project's path, cut to a readable length. */
const shortArgs = (args: string) =>
  args
    .split(projectRoot + "/")
    .join("")
    .slice(0, 110);

function roleOf(args: string): string {
  if (/^(\S*\/)?pulumi$/.test(args.split(" ")[0])) return "CLI (engine)";
  if (/run-policy-pack/.test(args)) return "policy pack";
  if (/dynamic-provider|pulumi-resource-pulumi-nodejs|run-plugin/.test(args)) return "dynamic providers";
  if (/pulumi-language-nodejs/.test(args)) return "language host";
  if (/pulumi-resource-random/.test(args)) return "random provider";
  if (/cmd\/run\b|@pulumi\/pulumi\/cmd\/run/.test(args)) return "program";
  return `other: ${args.split(" ")[0].split("/").pop()}`;
}

function children(): Map<number, number> {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(rest[1]));
    } catch {
      // gone
    }
  }
  return parent;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The median of each figure over the runs (roles and processes matched by name; the process list is the median run's). */
function medianOf(runs: ProfileResult[]): ProfileResult {
  const roles = [...new Set(runs.flatMap((r) => r.byRole.map((x) => x.role)))];
  const byRole = roles
    .map((role) => {
      const got = runs.map((r) => r.byRole.find((x) => x.role === role) ?? { role, processes: 0, cpuS: 0 });
      return { role, processes: median(got.map((x) => x.processes)), cpuS: median(got.map((x) => x.cpuS)) };
    })
    .sort((a, b) => b.cpuS - a.cpuS);
  const totalCpuS = median(runs.map((r) => r.totalCpuS));
  const middle = [...runs].sort((a, b) => a.totalCpuS - b.totalCpuS)[Math.floor((runs.length - 1) / 2)];
  return { wallS: median(runs.map((r) => r.wallS)), byRole, processes: middle.processes, totalCpuS };
}

/**
 * One tenant preview per variant per round, the variants taking turns (A B A B …) so that a
 * machine whose speed drifts affects them alike. `cpuProfDir`: also write a V8 CPU profile of
 * every Node process there (NODE_OPTIONS=--cpu-prof; a process the engine kills writes none).
 */
export async function previewProfile(
  progress: (l: string) => void,
  o: { rounds?: number; variants?: ProfileVariant[]; cpuProfDir?: string } = {},
): Promise<ProfileComparison> {
  const rounds = o.rounds ?? 3;
  const variants = o.variants ?? COMPILE_CACHE_VARIANTS;
  const sim = await new HostwindsSim({ apiKeys: [KEY] }).start();
  const cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
  try {
    const dir = workDirFor("bench-profile");
    makeFleetProject(dir);
    cf.addZone("prof-mail.com");
    writeSmallTenant(dir, "prof");
    const env = {
      ...process.env,
      ...engineEnv({ backend: `bench-profile-${process.pid}` }),
      HOSTWINDS_API_URL: sim.url,
      HOSTWINDS_API_KEY: KEY,
      HOSTWINDS_REQUESTS_PER_SECOND: "0",
      CLOUDFLARE_BASE_URL: cf.url,
      CLOUDFLARE_API_TOKEN: CF_TOKEN,
      ...(o.cpuProfDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(o.cpuProfDir)}` } : {}),
    };
    await new Promise((r) => spawn("pulumi", ["stack", "select", "--create", "prof"], { cwd: dir, env, stdio: "ignore" }).on("close", r));
    const runs = variants.map(() => [] as ProfileResult[]);
    for (let round = 1; round <= rounds; round++)
      for (const [i, v] of variants.entries()) {
        progress(`round ${round}/${rounds}: pulumi preview of one tenant, ${v.name}, process tree sampled`);
        runs[i].push(await sampledPreview(dir, { ...env, ...v.env }));
      }
    return { rounds, variants: variants.map((v, i) => ({ name: v.name, median: medianOf(runs[i]), runs: runs[i] })) };
  } finally {
    await sim.stop();
    await cf.stop();
  }
}

/** `pulumi preview` of the stack prof in `dir`, its process tree's CPU read from /proc every 20 ms. */
async function sampledPreview(dir: string, env: NodeJS.ProcessEnv): Promise<ProfileResult> {
  {
    const cpu = new Map<number, { args: string; ticks: number }>();
    const t0 = Date.now();
    const p = spawn("pulumi", ["preview", "--stack", "prof", "--non-interactive", "--policy-pack", path.join(projectRoot, "policies")], {
      cwd: dir,
      env,
      stdio: "ignore",
    });
    let running = true;
    p.on("close", () => (running = false));
    while (running) {
      const parent = children();
      const tree = new Set([p.pid!]);
      for (let grew = true; grew;) {
        grew = false;
        for (const [pid, pp] of parent)
          if (tree.has(pp) && !tree.has(pid)) {
            tree.add(pid);
            grew = true;
          }
      }
      for (const pid of tree) {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          const ticks = Number(rest[11]) + Number(rest[12]);
          const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
          cpu.set(pid, { args: cpu.get(pid)?.args || args, ticks });
        } catch {
          // exited between the listing and the read
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const wallS = (Date.now() - t0) / 1000;
    const roles = new Map<string, { processes: number; cpuS: number }>();
    for (const { args, ticks } of cpu.values()) {
      const r = roleOf(args);
      const x = roles.get(r) ?? { processes: 0, cpuS: 0 };
      x.processes++;
      x.cpuS += ticks / TICK;
      roles.set(r, x);
    }
    const byRole = [...roles.entries()].map(([role, x]) => ({ role, ...x })).sort((a, b) => b.cpuS - a.cpuS);
    const processes = [...cpu.values()]
      .map(({ args, ticks }) => ({ role: roleOf(args), args: shortArgs(args), cpuS: ticks / TICK }))
      .sort((a, b) => b.cpuS - a.cpuS);
    return { wallS, byRole, processes, totalCpuS: byRole.reduce((s, x) => s + x.cpuS, 0) };
  }
}

export function printPreviewProfile(c: ProfileComparison): void {
  console.log(
    `\nOne tenant preview (policy pack on), median of ${c.rounds} rounds, variants taking turns; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  for (const { name, median: r, runs } of c.variants) {
    console.log(
      `\n  ${name}: ${r.wallS.toFixed(1)} s wall, ${r.totalCpuS.toFixed(2)} s CPU sampled (runs: ${runs.map((x) => x.totalCpuS.toFixed(2)).join(", ")})`,
    );
    for (const x of r.byRole)
      console.log(
        `    ${x.role.padEnd(22)} ${String(x.processes).padStart(3)} process${x.processes === 1 ? "  " : "es"} ${x.cpuS.toFixed(2).padStart(6)} s CPU`,
      );
    console.log("    by process (the median run):");
    for (const x of r.processes) console.log(`      ${x.cpuS.toFixed(2).padStart(5)} s  ${x.role.padEnd(18)} ${x.args}`);
  }
  if (c.variants.length === 2) {
    const [a, b] = c.variants.map((v) => v.median);
    console.log(
      `\n  ${c.variants[1].name} / ${c.variants[0].name}: CPU ×${(b.totalCpuS / a.totalCpuS).toFixed(2)}, wall ×${(b.wallS / a.wallS).toFixed(2)}`,
    );
  }
}
