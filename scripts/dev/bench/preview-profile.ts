/**
 * Where one tenant preview spends its CPU: a preview of a one-server tenant with the policy pack,
 * its process tree sampled from /proc every 20 ms (user + system time of each process: the CLI,
 * the language host, the program, the dynamic-provider processes, the policy pack), summed by
 * role. Two ways of previewing: plain `pulumi preview` in the project folder (what a user and the
 * merge pipeline run) and the fleet's (`fleet preview`: the Automation API, one workspace per
 * slot), either with the CLI program (a program process per run) or `--inline` (the program inline
 * in a long-lived engine worker, scripts/lib/stacks/engine-workers.ts: its CPU counted from before the
 * run to after, so a warm worker's start is not). Variants run side by side: by default the CLI
 * program against the inline one, for a preview and for an `up` with no change; or Node's compile
 * cache off and on (`--compile-cache`); or (`--before DIR`) the program and policy pack of an
 * older checkout against this one's. Linux only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { devDir, engineEnv, projectRoot } from "../../lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { fleetPreview, fleetUp } from "../../cli/fleet/commands";
import { fleetProject } from "../../lib/stacks/tenants";
import { engineWorkerPids } from "../../lib/stacks/engine-workers";

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
  /**
   * `pulumi preview` in the project folder (default), the fleet's preview through the Automation
   * API with the CLI program, or the same with the program inline in a warm engine worker.
   */
  path?: "cli" | "fleet" | "inline";
  /** A preview (default; of a tenant with nothing yet) or an `up` (of a tenant already up: no change). */
  op?: "preview" | "up";
  /** The variant this one is compared with (its name): ratios are printed for each such pair. */
  against?: string;
  /** `inline` only: false starts a dynamic-provider process per preview, as before in-process providers (scripts/lib/stacks/in-process-providers.ts). */
  providersInProcess?: boolean;
}

/** The variants the bench compares: Node's module compile cache off (as before) and on (engineEnv's default). */
export const COMPILE_CACHE_VARIANTS: ProfileVariant[] = [
  { name: "compile cache off", env: { NODE_DISABLE_COMPILE_CACHE: "1" } },
  { name: "compile cache on", env: {}, against: "compile cache off" },
];

/**
 * The default: the CLI program (a Node process per run) against the program inline in a warm
 * engine worker, for a preview of a new tenant and for an `up` with no change; and a plain
 * `pulumi preview` as a user runs it by hand, for reference.
 */
export const INLINE_VARIANTS: ProfileVariant[] = [
  { name: "pulumi preview by hand", env: { NODE_COMPILE_CACHE: "" } },
  { name: "fleet preview, CLI program", env: {}, path: "fleet" },
  { name: "fleet preview, inline", env: {}, path: "inline", against: "fleet preview, CLI program" },
  { name: "fleet preview, inline, provider process", env: {}, path: "inline", providersInProcess: false },
  { name: "fleet preview, inline, providers in process", env: {}, path: "inline", against: "fleet preview, inline, provider process" },
  { name: "fleet up no change, CLI program", env: {}, path: "fleet", op: "up" },
  { name: "fleet up no change, inline", env: {}, path: "inline", op: "up", against: "fleet up no change, CLI program" },
];

/**
 * A user's own `pulumi preview` has none of the engine settings (docs/contributors.md, "run pulumi
 * by hand"), so no NODE_COMPILE_CACHE: whatever compile cache it gets is the toolchain's own (the
 * language host and the dynamic-provider shim default to the engine's folder since issue 29).
 */
const BY_HAND = { NODE_COMPILE_CACHE: "" };

/**
 * An older checkout (`--before DIR`) against this one: each pair is before then now, each
 * checkout with its own toolchain (its glue: language host, dynamic-provider shim), engine
 * settings, fleet code, program, providers and policy pack. Four pairs: a preview of a new tenant
 * and an `up` with no change, each on the plain path (`pulumi preview`/`up` in the project folder as
 * a user runs it by hand: no engine-settings compile cache) and on the fleet's (`fleet preview`/`up`
 * with the program inline in a warm engine worker, the engine settings).
 */
export function beforeAndNow(before: string): ProfileVariant[] {
  const root = path.resolve(before);
  if (!fs.existsSync(path.join(root, "dist", "stacks", "index.js")) || !fs.existsSync(path.join(root, "node_modules", "@pulumi", "pulumi")))
    throw new Error(`--before ${before}: not a built checkout (it needs node_modules and dist/ from \`npm ci && npm run build\` there)`);
  const pairs: Array<[string, Omit<ProfileVariant, "name">]> = [
    ["pulumi preview", { env: BY_HAND }],
    ["fleet preview", { env: {}, path: "inline" }],
    ["pulumi up, no change", { env: BY_HAND, op: "up" }],
    ["fleet up, no change", { env: {}, path: "inline", op: "up" }],
  ];
  return pairs.flatMap(([name, v]) => [
    { name: `before: ${name}`, ...v, root },
    { name: `now: ${name}`, ...v, against: `before: ${name}` },
  ]);
}

export interface ProfileComparison {
  rounds: number;
  /** Per variant, the median over the rounds of each figure. */
  variants: Array<{ name: string; against?: string; median: ProfileResult; runs: ProfileResult[] }>;
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
  if (/engine-worker\.js/.test(args)) return "engine worker (program)";
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
  const variants = o.variants ?? INLINE_VARIANTS;
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
      // prof is only ever previewed (a new tenant: everything to create); the up stack is applied
      // by the first up (the warm-up) and then has nothing to change. Each checkout ups a tenant
      // of its own: the stand-ins are shared, and a record another backend's stack owns is refused.
      writeSmallTenant(c.dir, "prof");
      writeSmallTenant(c.dir, c.upStack);
      cf.addZone(`${c.upStack}-mail.com`);
      cleanups.push(c.backendDir);
      projects.set(root, c);
      for (const stack of ["prof", c.upStack])
        await new Promise((r) =>
          spawn("pulumi", ["stack", "select", "--create", stack, ...secretsProviderArgs()], {
            cwd: c.dir,
            env: { ...process.env, ...c.env },
            stdio: "ignore",
          }).on("close", r),
        );
    }
    const once = (v: ProfileVariant) => {
      const root = v.root ?? projectRoot;
      const c = projects.get(root)!;
      return sampledPreview(v.path ?? "cli", v.op ?? "preview", v.providersInProcess, {
        ...c,
        pack: path.join(root, "policies"),
        otherWorkers: () => [...projects].filter(([r]) => r !== root).flatMap(([, o]) => o.workerPids()),
        env: { ...c.env, ...providerEnv, ...v.env },
      });
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
    return { rounds, variants: variants.map((v, i) => ({ name: v.name, against: v.against, median: medianOf(runs[i]), runs: runs[i] })) };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    for (const b of cleanups) fs.rmSync(b, { recursive: true, force: true });
    await sim.stop();
    await cf.stop();
  }
}

/** `--secrets-provider` for a new stack when the bench runs with a key management URL (bench --secrets vault). */
function secretsProviderArgs(): string[] {
  const kms = process.env.PENGUINMAILS_SECRETS_PROVIDER;
  return kms && kms !== "passphrase" ? ["--secrets-provider", kms] : [];
}

/** A checkout's way of running the engine: its engine environment, fleet command and a project folder in it. */
interface Checkout {
  dir: string;
  backend: string;
  backendDir: string;
  env: Record<string, string>;
  fleetPreview: typeof fleetPreview;
  fleetUp: typeof fleetUp;
  fleetProject: typeof fleetProject;
  /** The tenant this checkout's `up`s apply: profup here, profupold in an older checkout. */
  upStack: string;
  /** The pids of this checkout's engine workers (its own engine-workers module's). */
  workerPids: () => number[];
}

function checkout(root: string, backend: string): Checkout {
  const dist = (m: string) => path.join(root, "dist", "scripts", m);
  // This checkout's own modules are the ones already loaded (the bench runs from its dist/).
  const engine = (root === projectRoot ? { engineEnv, devDir } : require(dist("lib/engine/pulumi-env"))) as {
    engineEnv: typeof engineEnv;
    devDir: string;
  };
  const fleet = (root === projectRoot ? { fleetPreview, fleetUp } : require(dist("cli/fleet/commands"))) as {
    fleetPreview: typeof fleetPreview;
    fleetUp: typeof fleetUp;
  };
  const tenants = (root === projectRoot ? { fleetProject } : require(dist("lib/stacks/tenants"))) as { fleetProject: typeof fleetProject };
  const workers = (root === projectRoot ? { engineWorkerPids } : require(dist("lib/stacks/engine-workers"))) as {
    engineWorkerPids: typeof engineWorkerPids;
  };
  return {
    dir: path.join(root, ".pulumi-dev", "work", "bench-profile"),
    backend,
    backendDir: path.join(engine.devDir, "backends", backend),
    env: engine.engineEnv({ backend }),
    fleetPreview: fleet.fleetPreview,
    fleetUp: fleet.fleetUp,
    fleetProject: tenants.fleetProject,
    upStack: root === projectRoot ? "profup" : "profupold",
    workerPids: () => workers.engineWorkerPids(),
  };
}

interface PreviewTarget extends Checkout {
  pack: string;
  /** The other checkouts' engine workers: their process trees are not this run's. */
  otherWorkers: () => number[];
  env: Record<string, string>;
}

/**
 * One preview of the stack prof (or `up` of profup) in `t.dir`, the CPU of every process it starts
 * read from /proc every 20 ms. `cli`: `pulumi preview` (`pulumi up`) as a user runs it, the tree
 * under that process. `fleet`, `inline`: `fleet preview` (`fleet up`) of the one tenant in this
 * process (the checkout's own fleet code), the tree of processes under this one meanwhile (the
 * Automation API's CLI and everything under it; with `inline` also the engine worker, counted
 * from before the run); this process's own share (reading the engine's events) is not counted.
 */
async function sampledPreview(
  how: "cli" | "fleet" | "inline",
  op: "preview" | "up",
  providersInProcess: boolean | undefined,
  t: PreviewTarget,
): Promise<ProfileResult> {
  const stack = op === "up" ? t.upStack : "prof";
  if (how === "cli") {
    const args = op === "up" ? ["up", "--yes", "--skip-preview"] : ["preview"];
    const p = spawn("pulumi", [...args, "--stack", stack, "--non-interactive", "--policy-pack", t.pack], {
      cwd: t.dir,
      env: { ...process.env, ...t.env },
      stdio: "ignore",
    });
    const done = new Promise<void>((resolve, reject) =>
      p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`pulumi ${args[0]} of ${stack} in ${t.dir} exited ${code}`)))),
    );
    return sampledTree(p.pid!, done);
  }
  const env = { ...process.env };
  Object.assign(process.env, t.env);
  try {
    const run = op === "up" ? t.fleetUp : t.fleetPreview;
    const o = { project: t.fleetProject(t.dir), concurrency: 1, policyPacks: [t.pack], localBackend: t.backend, homeTag: "bench-profile" };
    const inline = how === "inline" ? { inline: true, ...(providersInProcess === false ? { providersInProcess } : {}) } : {};
    const done = run({ ...o, ...inline }, [stack]).then((r) => {
      if (r[0]?.status !== "ok") throw new Error(`fleet ${op} of ${stack} in ${t.dir}: ${JSON.stringify(r[0])}`);
    });
    // Not counted: another checkout's warm engine worker, also under this process.
    return await sampledTree(process.pid, done, false, { exclude: t.otherWorkers });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
  }
}

/** The processes under `root` now (with `root` itself when `withRoot`), leaving out the trees of `exclude`. */
function treeOf(root: number, withRoot: boolean, exclude: number[] = []): Set<number> {
  const parent = children();
  const tree = new Set([root]);
  const out = new Set(exclude);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, pp] of parent)
      if (tree.has(pp) && !tree.has(pid) && !out.has(pid)) {
        tree.add(pid);
        grew = true;
      }
  }
  if (!withRoot) tree.delete(root);
  return tree;
}

/** A process's user + system time so far (clock ticks) and its command line; undefined once it is gone. */
function ticksOf(pid: number): { args: string; ticks: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return { args, ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined; // exited between the listing and the read
  }
}

/** The CPU of the process tree under `root` (with `root` itself when `withRoot`) until `done`, read from /proc every 20 ms. */
async function sampledTree(
  root: number,
  done: Promise<void>,
  withRoot = true,
  o: { exclude?: () => number[] } = {},
): Promise<ProfileResult> {
  {
    const cpu = new Map<number, { args: string; ticks: number }>();
    // A process already running (a warm engine worker) counts from now: its ticks so far are subtracted.
    const base = new Map<number, number>();
    for (const pid of treeOf(root, withRoot, o.exclude?.())) base.set(pid, ticksOf(pid)?.ticks ?? 0);
    const t0 = Date.now();
    let running = true;
    let failure: unknown;
    void done.then(
      () => (running = false),
      (e) => ((failure = e), (running = false)),
    );
    const sample = () => {
      for (const pid of treeOf(root, withRoot, o.exclude?.())) {
        const got = ticksOf(pid);
        // The latest command line: a child sampled between fork and exec still shows its parent's.
        if (got) cpu.set(pid, { args: got.args || cpu.get(pid)?.args || "", ticks: got.ticks - (base.get(pid) ?? 0) });
      }
    };
    while (running) {
      sample();
      await new Promise((r) => setTimeout(r, 20));
    }
    sample(); // the processes still running (a warm worker) up to the end
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
  // Each variant compared with another (`against`): the ratio, and per role.
  for (const now of c.variants) {
    const v = c.variants.find((x) => x.name === variantAgainst(c, now.name));
    if (!v) continue;
    const [a, b] = [v.median, now.median];
    console.log(
      `\n  ${now.name} / ${v.name}: CPU ×${(b.totalCpuS / a.totalCpuS).toFixed(2)} (${a.totalCpuS.toFixed(2)} → ${b.totalCpuS.toFixed(2)} s), wall ×${(b.wallS / a.wallS).toFixed(2)}`,
    );
    for (const role of [...new Set([...a.byRole, ...b.byRole].map((x) => x.role))]) {
      const [x, y] = [a, b].map((r) => r.byRole.find((z) => z.role === role)?.cpuS ?? 0);
      console.log(`    ${role.padEnd(24)} ${x.toFixed(2).padStart(6)} → ${y.toFixed(2).padStart(6)} s`);
    }
  }
}

const variantAgainst = (c: ProfileComparison, name: string) => c.variants.find((v) => v.name === name)?.against;
