/**
 * scripts/toolchain/language-nodejs/javascript-only.js, which the language host loads first into a
 * program or policy pack that says `typescript: false` and the dynamic-provider shim into every
 * provider: the SDK's runners start without TypeScript or ts-node, and TypeScript still loads
 * (the same module) when something serializes a function. Run on the SDK's real entry points in a
 * child Node process; a second preload reports what got loaded and how many inspector sessions
 * were opened (the SDK's v8Hooks opens one at start unless the preload defers it to first use).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";

const PRELOAD = path.join(projectRoot, "scripts", "toolchain", "language-nodejs", "javascript-only.js");
const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const work = path.join(projectRoot, ".pulumi-dev", "work", "javascript-only-test");

jest.setTimeout(120_000);

/** What modules a process ended up with: TypeScript, ts-node; `serialize` also serializes a function first. */
function loaded(
  entry: string,
  args: string[],
  o: { preload: boolean; serialize?: boolean; automation?: boolean },
): { ts: boolean; tsNode: boolean; sessions: number; text?: string; automation: boolean } {
  const report = path.join(work, "report.js");
  fs.writeFileSync(
    report,
    `let sessions = 0;
const { Session } = require("inspector");
const connect = Session.prototype.connect;
Session.prototype.connect = function () { sessions++; return connect.call(this); };
const done = (text) => { const ks = Object.keys(require.cache);
  process.stderr.write("REPORT " + JSON.stringify({ ts: ks.some((k) => /[\\\\/]typescript[\\\\/]lib[\\\\/]typescript\\.js$|typescript@3\\.8\\.3/.test(k)), tsNode: ks.some((k) => /ts-node/.test(k)), sessions, text, automation: ks.some((k) => /automation[\\\\/]localWorkspace\\.js$/.test(k)) }) + "\\n");
  process.exit(0); };
setTimeout(() => {
  if (${o.automation ? "true" : "false"}) return done(typeof require(${JSON.stringify(SDK)}).automation.LocalWorkspace);
  if (!${o.serialize ? "true" : "false"}) return done();
  require(${JSON.stringify(path.join(SDK, "runtime", "closure", "serializeClosure"))}).serializeFunction(() => 6 * 7).then((f) => done(f.text), (e) => done("failed: " + e.message));
}, 3000).unref();
setTimeout(() => {}, 20000);
`,
  );
  const r = spawnSync(process.execPath, [...(o.preload ? ["--require", PRELOAD] : []), "--require", report, entry, ...args], {
    cwd: work,
    encoding: "utf8",
    timeout: 60_000,
  });
  const line = r.stderr.split("\n").find((l) => l.startsWith("REPORT "));
  if (!line) throw new Error(`no report from ${entry}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice("REPORT ".length));
}

describe("JavaScript-only runs of the SDK's entry points", () => {
  beforeAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    // A policy pack that loads the SDK (as @pulumi/policy does) and stays up: what got loaded by then is what counts.
    fs.writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "pack", main: "pack.js" }));
    fs.writeFileSync(path.join(work, "tsconfig.json"), "{}");
    fs.writeFileSync(path.join(work, "pack.js"), 'require("@pulumi/pulumi");\nsetTimeout(() => {}, 20000);\n');
  });

  test("the policy-pack runner: TypeScript, ts-node and an inspector session at start without it, none of them with it", () => {
    const entry = path.join(SDK, "cmd", "run-policy-pack", "index.js");
    expect(loaded(entry, ["127.0.0.1:1", work], { preload: false })).toMatchObject({ ts: true, tsNode: true, sessions: 1 });
    expect(loaded(entry, ["127.0.0.1:1", work], { preload: true })).toMatchObject({ ts: false, tsNode: false, sessions: 0 });
  });

  test("the policy-pack runner with it: the inspector session opens when a function is serialized, which then works", () => {
    const entry = path.join(SDK, "cmd", "run-policy-pack", "index.js");
    const serialized = loaded(entry, ["127.0.0.1:1", work], { preload: true, serialize: true });
    expect(serialized).toMatchObject({ ts: true, sessions: 1 });
    expect(serialized.text).toMatch(/6 \* 7/);
  });

  test("the Automation API: not loaded by the runners with it, and the same module when something uses it", () => {
    const entry = path.join(SDK, "cmd", "run-policy-pack", "index.js");
    expect(loaded(entry, ["127.0.0.1:1", work], { preload: false })).toMatchObject({ automation: true });
    expect(loaded(entry, ["127.0.0.1:1", work], { preload: true })).toMatchObject({ automation: false });
    expect(loaded(entry, ["127.0.0.1:1", work], { preload: true, automation: true })).toMatchObject({ automation: true, text: "function" });
  });

  test("the program runner: OpenTelemetry's tracing SDK only when the run is traced", () => {
    const entry = path.join(SDK, "cmd", "run", "index.js");
    // A program run against an engine that is not there: the runner loads everything, fails, exits.
    fs.writeFileSync(path.join(work, "program.js"), "module.exports = () => ({});\n");
    const tracer = (preload: boolean, env: Record<string, string> = {}) => {
      const r = spawnSync(
        process.execPath,
        [
          ...(preload ? ["--require", PRELOAD] : []),
          ...["--require", path.join(work, "exit-report.js"), entry],
          ...["--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:1", "--project", "p", "--stack", "s", "--pwd", work, "program.js"],
        ],
        { cwd: work, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } },
      );
      const line = r.stderr.split("\n").find((l) => l.startsWith("REPORT "));
      if (!line) throw new Error(`no report from ${entry}: ${r.stderr.slice(-2000)}`);
      return JSON.parse(line.slice("REPORT ".length)) as { tracerLoaded: boolean; runnerLoaded: boolean };
    };
    fs.writeFileSync(
      path.join(work, "exit-report.js"),
      `process.on("exit", () => { const ks = Object.keys(require.cache);
  process.stderr.write("REPORT " + JSON.stringify({ tracerLoaded: ks.some((k) => /sdk-trace-node/.test(k)), runnerLoaded: ks.some((k) => /cmd[\\\\/]run[\\\\/]run\\.js$/.test(k)) }) + "\\n"); });\n`,
    );
    expect(tracer(false)).toEqual({ tracerLoaded: true, runnerLoaded: true });
    expect(tracer(true)).toEqual({ tracerLoaded: false, runnerLoaded: true });
    expect(tracer(true, { TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })).toEqual({
      tracerLoaded: true,
      runnerLoaded: true,
    });
  });

  test("the program runner: the stack-trace filter over source-map-support before the root stack, the closure packager's code paths on first use", () => {
    const entry = path.join(SDK, "cmd", "run", "index.js");
    fs.writeFileSync(path.join(work, "program.js"), "module.exports = () => ({});\n");
    // At exit (the run fails before the program loads: no engine there), what the process had once
    // the SDK's index is loaded as a program loads it; or the SDK's computeCodePaths called.
    fs.writeFileSync(
      path.join(work, "code-paths-report.js"),
      `process.on("exit", () => { require(${JSON.stringify(SDK)}); const ks = Object.keys(require.cache);
  const format = Error.prepareStackTrace;
  const report = { filtered: !!(format && format[Symbol.for("penguinmails.skipResourceStackTraces")]),
    sourceMaps: ks.some((k) => /source-map-support[\\/]register\\.js$/.test(k)),
    codePaths: ks.some((k) => /normalize-package-data/.test(k)) };
  process.stderr.write("REPORT " + JSON.stringify(report) + "\\n"); });
if (process.env.CALL_CODE_PATHS) setImmediate(() => require(${JSON.stringify(SDK)}).runtime.computeCodePaths().then(
  (m) => process.stderr.write("PATHS " + m.size + " " + Object.keys(require.cache).some((k) => /normalize-package-data/.test(k)) + "\\n"),
  (e) => process.stderr.write("PATHS failed " + e.message + "\\n")));\n`,
    );
    const run = (preload: boolean, env: Record<string, string> = {}) => {
      const r = spawnSync(
        process.execPath,
        [
          ...(preload ? ["--require", PRELOAD] : []),
          ...["--require", path.join(work, "code-paths-report.js"), entry],
          ...["--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:1", "--project", "p", "--stack", "s", "--pwd", work, "program.js"],
        ],
        { cwd: work, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } },
      );
      const line = r.stderr.split("\n").find((l) => l.startsWith("REPORT "));
      if (!line) throw new Error(`no report from ${entry}: ${r.stderr.slice(-2000)}`);
      return { ...JSON.parse(line.slice("REPORT ".length)), paths: r.stderr.split("\n").find((l) => l.startsWith("PATHS ")) };
    };
    expect(run(false)).toMatchObject({ filtered: false, sourceMaps: true, codePaths: true });
    expect(run(true)).toMatchObject({ filtered: true, sourceMaps: true, codePaths: false });
    expect(run(true, { PENGUINMAILS_RESOURCE_STACK_TRACES: "1" })).toMatchObject({ filtered: false, sourceMaps: true });
    // Through the stand-in, the real function: it loads its module then and answers.
    expect(run(true, { CALL_CODE_PATHS: "1" }).paths).toMatch(/^PATHS \d+ true$/);
  });

  test("zod's translations: not loaded by the program runner or the project's provider host until read, then the real ones", () => {
    // Once the entry point has loaded, zod as the project's modules load it; then its translations read.
    fs.writeFileSync(
      path.join(work, "zod-report.js"),
      `setImmediate(() => {
  const loaded = () => Object.keys(require.cache).filter((k) => /zod[\\/]v4[\\/]locales[\\/](?!en\\.|index\\.)[a-z-]+\\.cjs$/i.test(k)).length;
  const { z } = require(require.resolve("zod", { paths: [${JSON.stringify(projectRoot)}] }));
  const before = loaded();
  const message = z.string().safeParse(1).error.issues[0].message;
  const german = typeof z.locales.de;
  process.stderr.write("REPORT " + JSON.stringify({ before, message, german, after: loaded() }) + "\\n");
  process.exit(0);
});\n`,
    );
    const report = (entry: string, args: string[], preload: boolean) => {
      const r = spawnSync(
        process.execPath,
        [...(preload ? ["--require", PRELOAD] : []), "--require", path.join(work, "zod-report.js"), entry, ...args],
        {
          cwd: work,
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      const line = r.stderr.split("\n").find((l) => l.startsWith("REPORT "));
      if (!line) throw new Error(`no report from ${entry}: ${r.stderr.slice(-2000)}`);
      return JSON.parse(line.slice("REPORT ".length)) as { before: number; message: string; german: string; after: number };
    };
    const run = path.join(SDK, "cmd", "run", "index.js");
    const runArgs = ["--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:1", "--project", "p", "--stack", "s", "--pwd", work, "program.js"];
    const host = path.join(projectRoot, "dist", "providers", "lib", "dynamic-provider-host.js");
    const english = "Invalid input: expected string, received number";
    const without = report(run, runArgs, false);
    expect(without.before).toBeGreaterThan(40);
    for (const [entry, args] of [
      [run, runArgs],
      [host, ["127.0.0.1:1"]],
    ] as const)
      expect(report(entry, [...args], true)).toEqual({ before: 0, message: english, german: "function", after: without.before });
  });

  test("the dynamic-provider host: no TypeScript until a function is serialized, which then works", () => {
    const entry = path.join(SDK, "cmd", "dynamic-provider", "index.js");
    expect(loaded(entry, ["127.0.0.1:1"], { preload: false })).toMatchObject({ ts: true });
    expect(loaded(entry, ["127.0.0.1:1"], { preload: true })).toMatchObject({ ts: false });
    const serialized = loaded(entry, ["127.0.0.1:1"], { preload: true, serialize: true });
    expect(serialized.ts).toBe(true);
    expect(serialized.text).toMatch(/6 \* 7/);
  });
});
