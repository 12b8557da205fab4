/**
 * Which tenant stacks exist and which a change touches. A tenant is a stack
 * config file `<stackConfigDir>/Pulumi.<tenant>.yaml`; a change to that file
 * touches that tenant. What no stack runs (docs, tests, pipelines, the
 * development tools and stand-ins) touches none, and everything else touches
 * every tenant: the program, components, providers, policies, dependencies,
 * build settings, the toolchain, and any folder this list does not know yet.
 * This is the only list: the pipelines run on every change and ask it.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface FleetProject {
  /** The folder holding Pulumi.yaml. */
  root: string;
  /** Where the tenants' stack config files are, relative to root. */
  stacksDir: string;
}

export function fleetProject(root: string): FleetProject {
  const file = path.join(root, "Pulumi.yaml");
  if (!fs.existsSync(file)) throw new Error(`no Pulumi.yaml in ${root}; run from the project or pass --root`);
  const m = /^stackConfigDir:\s*(\S+)\s*$/m.exec(fs.readFileSync(file, "utf8"));
  return { root, stacksDir: m ? m[1].replace(/\/$/, "") : "." };
}

const STACK_FILE = /^Pulumi\.([a-z0-9][a-z0-9-]*)\.yaml$/;

/** Every tenant with a stack config file, sorted. */
export function tenantStacks(p: FleetProject): string[] {
  const dir = path.join(p.root, p.stacksDir);
  return fs
    .readdirSync(dir)
    .map((f) => STACK_FILE.exec(f)?.[1])
    .filter((t): t is string => !!t)
    .sort();
}

/** Paths (relative to the project root) that no stack runs; anything else not a stack config file reaches every stack. */
const NO_TENANT = [
  /\.md$/,
  /^test\//,
  /^\.github\//,
  /^\.ci\//,
  /^scripts\/dev\//,
  /^service\//, // the provisioning service runs no stack program
  /^\.gitignore$/,
  /^\.prettierrc/,
  /^eslint\.config\./,
  /^LICENSE$/,
];

export type ChangeEffect = { tenant: string } | { everyTenant: true } | undefined;

export function effectOf(p: FleetProject, file: string): ChangeEffect {
  const dir = p.stacksDir === "." ? "" : `${p.stacksDir}/`;
  if (file.startsWith(dir) && !file.slice(dir.length).includes("/")) {
    const name = file.slice(dir.length);
    const tenant = STACK_FILE.exec(name)?.[1];
    if (tenant) return { tenant };
    if (/\.(ts|js|json)$/.test(name)) return { everyTenant: true }; // the program itself
  }
  // Notes kept beside the stack files (stacks/notes/...) are no program.
  if (file.startsWith(dir) && dir && /\.(ya?ml|md|txt)$/.test(file)) return undefined;
  return NO_TENANT.some((r) => r.test(file)) ? undefined : { everyTenant: true };
}

export interface ChangedTenants {
  tenants: string[];
  /** Why each tenant is in the list: the first file that touched it. */
  because: Record<string, string>;
  /** Tenants whose config file was deleted: their stacks are not destroyed by the fleet. */
  removed: string[];
}

/** The tenants a change since `ref` (merge base with HEAD, as a pull request sees it) touches. */
export function changedTenants(p: FleetProject, ref: string): ChangedTenants {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: p.root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  let top: string;
  let files: string[];
  try {
    top = git("rev-parse", "--show-toplevel").trim();
    files = git("diff", "--name-only", "--no-renames", `${ref}...HEAD`).split("\n").filter(Boolean);
  } catch (e) {
    const msg = (e as { stderr?: Buffer | string }).stderr?.toString().trim() || (e as Error).message;
    throw new Error(`--changed-since ${ref}: git could not compare it with HEAD in ${p.root}: ${msg.split("\n")[0]}`);
  }
  const prefix = path.relative(top, fs.realpathSync(p.root));
  const all = tenantStacks(p);
  const out: ChangedTenants = { tenants: [], because: {}, removed: [] };
  const add = (t: string, why: string) => {
    if (!(t in out.because)) out.because[t] = why;
  };
  for (const f of files) {
    const rel = prefix ? (f.startsWith(`${prefix}/`) ? f.slice(prefix.length + 1) : undefined) : f;
    if (rel === undefined) continue;
    const effect = effectOf(p, rel);
    if (!effect) continue;
    if ("everyTenant" in effect) for (const t of all) add(t, rel);
    else if (all.includes(effect.tenant)) add(effect.tenant, rel);
    else if (!out.removed.includes(effect.tenant)) out.removed.push(effect.tenant);
  }
  out.tenants = all.filter((t) => t in out.because);
  return out;
}
