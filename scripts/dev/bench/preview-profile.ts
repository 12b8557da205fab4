/**
 * Where one tenant preview spends its CPU: `pulumi preview` of a one-server tenant with the
 * policy pack, its process tree sampled from /proc every 20 ms (user + system time of each
 * process: the CLI, the language host, the program, the dynamic-provider processes, the policy
 * pack), summed by role. Linux only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { engineEnv, projectRoot, workDirFor } from "../../cli/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../fleet-project";
import { HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";

const KEY = "bench-profile-key-0123456789";
const CF_TOKEN = "bench-profile-cf-0123456789";
const TICK = 100; // USER_HZ on Linux

export interface ProfileResult {
  wallS: number;
  byRole: Array<{ role: string; processes: number; cpuS: number }>;
  totalCpuS: number;
}

function roleOf(args: string): string {
  if (/run-policy-pack|policies/.test(args)) return "policy pack";
  if (/dynamic-provider|pulumi-resource-pulumi-nodejs|run-plugin/.test(args)) return "dynamic providers";
  if (/pulumi-language-nodejs/.test(args)) return "language host";
  if (/pulumi-resource-random/.test(args)) return "random provider";
  if (/cmd\/run\b|@pulumi\/pulumi\/cmd\/run/.test(args)) return "program";
  if (/(^|\/)pulumi\s/.test(args) || /\/pulumi$/.test(args.split(" ")[0])) return "CLI (engine)";
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

export async function previewProfile(progress: (l: string) => void): Promise<ProfileResult> {
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
    };
    await new Promise((r) => spawn("pulumi", ["stack", "select", "--create", "prof"], { cwd: dir, env, stdio: "ignore" }).on("close", r));
    progress("pulumi preview of one tenant, process tree sampled");
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
    return { wallS, byRole, totalCpuS: byRole.reduce((s, x) => s + x.cpuS, 0) };
  } finally {
    await sim.stop();
    await cf.stop();
  }
}

export function printPreviewProfile(r: ProfileResult): void {
  console.log(`\nOne tenant preview (policy pack on): ${r.wallS.toFixed(1)} s wall, ${r.totalCpuS.toFixed(2)} s CPU sampled`);
  for (const x of r.byRole)
    console.log(
      `  ${x.role.padEnd(22)} ${String(x.processes).padStart(3)} process${x.processes === 1 ? "  " : "es"} ${x.cpuS.toFixed(2).padStart(6)} s CPU`,
    );
}
