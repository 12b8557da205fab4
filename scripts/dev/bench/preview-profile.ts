/**
 * Where one tenant preview spends its CPU: a preview of a one-server tenant with the policy pack,
 * its process tree sampled from /proc every 20 ms (user + system time of each process: the CLI,
 * the language host, the program, the dynamic-provider processes, the policy pack), summed by
 * role. Two ways of previewing: plain `pulumi preview` in the project folder (what a user and the
 * merge pipeline run) and the fleet's (`fleet preview`: the Automation API, one workspace per
 * slot). Variants run side by side: Node's compile cache off and on, or (`--before DIR`) the
 * program and policy pack of an older checkout against this one's. Linux only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { devDir, engineEnv, projectRoot } from "../../lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { fleetPreview } from "../../cli/fleet/commands";
import { fleetProject } from "../../lib/stacks/tenants";

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

/** A way of running the engine, compared side by side with the others. */
export interface ProfileVariant {
  name: string;
  /** Extra environment for every process. */
  env: Record<string, string>;
  /** A built checkout (its own node_modules, `npm run build` done) whose program and policy pack run; default this one. */
  root?: string;
  /** `pulumi preview` in the project folder (default), or the fleet's preview through the Automation API. */
  path?: "cli" | "fleet";
}

/** The variants the bench compares: Node's module compile cache off (as before) and on (engineEnv's default). */
export const COMPILE_CACHE_VARIANTS: ProfileVariant[] = [
  { name: "compile cache off", env: { NODE_DISABLE_COMPILE_CACHE: "1" } },
  { name: "compile cache on", env: {} },
];

/** A user's own `pulumi preview` has none of the engine settings' compile cache (docs/contributors.md, "run pulumi by hand"). */
const BY_HAND = { NODE_DISABLE_COMPILE_CACHE: "1" };

/**
 * An older checkout (`--before DIR`) against this one, on both paths: each pair is before then
 * now, each checkout with its own toolchain (its glue: language host, dynamic-provider shim),
 * engine settings, fleet code, program, providers and policy pack. The plain path is `pulumi
 * preview` as a user runs it by hand, without the engine settings' compile cache; the fleet path
 * is `fleet preview` with them.
 */
export function beforeAndNow(before: string): ProfileVariant[] {
  const root = path.resolve(before);
  if (!fs.existsSync(path.join(root, "dist", "stacks", "index.js")) || !fs.existsSync(path.join(root, "node_modules", "@pulumi", "pulumi")))
    throw new Error(`--before ${before}: not a built checkout (it needs node_modules and dist/ from \`npm ci && npm run build\` there)`);
  return [
    { name: "before: pulumi preview", env: BY_HAND, root },
    { name: "now: pulumi preview", env: BY_HAND },
    { name: "before: fleet preview", env: {}, root, path: "fleet" },
    { name: "now: fleet preview", env: {}, path: "fleet" },
  ];
}

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
  const providerEnv: Record<string, string> = {
    HOSTWINDS_API_URL: sim.url,
    HOSTWINDS_API_KEY: KEY,
    HOSTWINDS_REQUESTS_PER_SECOND: "0",
    CLOUDFLARE_BASE_URL: cf.url,
    CLOUDFLARE_API_TOKEN: CF_TOKEN,
    ...(o.cpuProfDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(o.cpuProfDir)}` } : {}),
  };
  // The fleet path reads the providers' settings from this process's environment, as `fleet` does.
  const saved = { ...process.env };
  Object.assign(process.env, providerEnv);
  const cleanups: string[] = [];
  try {
    cf.addZone("prof-mail.com");
    // Per checkout: its own engine settings and toolchain (its scripts/lib/engine/pulumi-env), its
    // fleet code, and a project folder and backend inside it, so its providers load its own dist/.
    const projects = new Map<string, Checkout>();
    for (const root of new Set(variants.map((v) => v.root ?? projectRoot))) {
      const c = checkout(root, `bench-profile-${process.pid}`);
      makeFleetProject(c.dir, root);
      writeSmallTenant(c.dir, "prof");
      cleanups.push(c.backendDir);
      projects.set(root, c);
      await new Promise((r) =>
        spawn("pulumi", ["stack", "select", "--create", "prof"], { cwd: c.dir, env: { ...process.env, ...c.env }, stdio: "ignore" }).on(
          "close",
          r,
        ),
      );
    }
    const once = (v: ProfileVariant) => {
      const root = v.root ?? projectRoot;
      const c = projects.get(root)!;
      return sampledPreview(v.path ?? "cli", { ...c, pack: path.join(root, "policies"), env: { ...c.env, ...providerEnv, ...v.env } });
    };
    // Not counted: the fleet's workspaces are made, and every process's compile cache written.
    for (const v of variants) {
      progress(`warm-up: ${v.name}`);
      await once(v);
    }
    const runs = variants.map(() => [] as ProfileResult[]);
    for (let round = 1; round <= rounds; round++)
      for (const [i, v] of variants.entries()) {
        progress(`round ${round}/${rounds}: ${v.name} of one tenant, process tree sampled`);
        runs[i].push(await once(v));
      }
    return { rounds, variants: variants.map((v, i) => ({ name: v.name, median: medianOf(runs[i]), runs: runs[i] })) };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    for (const b of cleanups) fs.rmSync(b, { recursive: true, force: true });
    await sim.stop();
    await cf.stop();
  }
}

/** A checkout's way of running the engine: its engine environment, fleet command and a project folder in it. */
interface Checkout {
  dir: string;
  backend: string;
  backendDir: string;
  env: Record<string, string>;
  fleetPreview: typeof fleetPreview;
  fleetProject: typeof fleetProject;
}

function checkout(root: string, backend: string): Checkout {
  const dist = (m: string) => path.join(root, "dist", "scripts", m);
  // This checkout's own modules are the ones already loaded (the bench runs from its dist/).
  const engine = (root === projectRoot ? { engineEnv, devDir } : require(dist("lib/engine/pulumi-env"))) as {
    engineEnv: typeof engineEnv;
    devDir: string;
  };
  const fleet = (root === projectRoot ? { fleetPreview } : require(dist("cli/fleet/commands"))) as { fleetPreview: typeof fleetPreview };
  const tenants = (root === projectRoot ? { fleetProject } : require(dist("lib/stacks/tenants"))) as { fleetProject: typeof fleetProject };
  return {
    dir: path.join(root, ".pulumi-dev", "work", "bench-profile"),
    backend,
    backendDir: path.join(engine.devDir, "backends", backend),
    env: engine.engineEnv({ backend }),
    fleetPreview: fleet.fleetPreview,
    fleetProject: tenants.fleetProject,
  };
}

interface PreviewTarget extends Checkout {
  pack: string;
  env: Record<string, string>;
}

/**
 * One preview of the stack prof in `t.dir`, the CPU of every process it starts read from /proc
 * every 20 ms. `cli`: `pulumi preview` as a user runs it, the tree under that process. `fleet`:
 * `fleet preview` of the one tenant in this process (the checkout's own fleet code), the tree of
 * processes this process starts meanwhile (the Automation API's CLI and everything under it);
 * this process's own share (reading the engine's events) is not counted.
 */
async function sampledPreview(how: "cli" | "fleet", t: PreviewTarget): Promise<ProfileResult> {
  if (how === "cli") {
    const p = spawn("pulumi", ["preview", "--stack", "prof", "--non-interactive", "--policy-pack", t.pack], {
      cwd: t.dir,
      env: { ...process.env, ...t.env },
      stdio: "ignore",
    });
    const done = new Promise<void>((r) => p.on("close", () => r()));
    return sampledTree(p.pid!, done);
  }
  const env = { ...process.env };
  Object.assign(process.env, t.env);
  try {
    const done = t
      .fleetPreview(
        { project: t.fleetProject(t.dir), concurrency: 1, policyPacks: [t.pack], localBackend: t.backend, homeTag: "bench-profile" },
        ["prof"],
      )
      .then((r) => {
        if (r[0]?.status !== "ok") throw new Error(`fleet preview of prof in ${t.dir}: ${JSON.stringify(r[0])}`);
      });
    return await sampledTree(process.pid, done, false);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
  }
}

/** The CPU of the process tree under `root` (with `root` itself when `withRoot`) until `done`, read from /proc every 20 ms. */
async function sampledTree(root: number, done: Promise<void>, withRoot = true): Promise<ProfileResult> {
  {
    const cpu = new Map<number, { args: string; ticks: number }>();
    const t0 = Date.now();
    let running = true;
    let failure: unknown;
    void done.then(
      () => (running = false),
      (e) => ((failure = e), (running = false)),
    );
    while (running) {
      const parent = children();
      const tree = new Set([root]);
      for (let grew = true; grew;) {
        grew = false;
        for (const [pid, pp] of parent)
          if (tree.has(pp) && !tree.has(pid)) {
            tree.add(pid);
            grew = true;
          }
      }
      if (!withRoot) tree.delete(root);
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
    if (failure) throw failure;
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
  // Variants come in pairs (before, after): each pair's ratio, and per role.
  for (let i = 0; i + 1 < c.variants.length; i += 2) {
    const [a, b] = [c.variants[i].median, c.variants[i + 1].median];
    console.log(
      `\n  ${c.variants[i + 1].name} / ${c.variants[i].name}: CPU ×${(b.totalCpuS / a.totalCpuS).toFixed(2)} (${a.totalCpuS.toFixed(2)} → ${b.totalCpuS.toFixed(2)} s), wall ×${(b.wallS / a.wallS).toFixed(2)}`,
    );
    for (const role of a.byRole.map((x) => x.role)) {
      const [x, y] = [a, b].map((r) => r.byRole.find((z) => z.role === role)?.cpuS ?? 0);
      console.log(`    ${role.padEnd(22)} ${x.toFixed(2).padStart(6)} → ${y.toFixed(2).padStart(6)} s`);
    }
  }
}
