/**
 * The policy pack in a JavaScript-only process (scripts/toolchain/language-nodejs/javascript-only.js,
 * item 6): the SDK's policy-pack runner with its run() replaced and @pulumi/pulumi's runtime loaded
 * only on first use. @pulumi/policy's own server answers in both, so what could differ is what the
 * stand-ins answer for it: the wire's markers (secrets, assets, unknowns), the runner's handling of
 * the pack's errors, and the SDK loaded when a value needs it. Each case starts the pack under the
 * SDK's runner as Pulumi ships it and under the preload, sends both the same requests over gRPC and
 * compares every answer (response or error). Run on the project's pack (policies/, built by
 * `npm run build`) and on a small pack made here for what the project's does not use (a
 * remediation, an asset among the properties, a policy that throws).
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as readline from "readline";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";

const PRELOAD = path.join(projectRoot, "scripts", "toolchain", "language-nodejs", "javascript-only.js");
const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const RUNNER = path.join(SDK, "cmd", "run-policy-pack", "index.js");
const work = path.join(projectRoot, ".pulumi-dev", "work", "policy-pack-runner-test");

import * as grpc from "@grpc/grpc-js";
import * as analyzerproto from "@pulumi/pulumi/proto/analyzer_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";

jest.setTimeout(180_000);

/** @pulumi/pulumi runtime/rpc.js (public source): the wire's markers. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";
const ASSET = "c44067f5952c0a294b673a41bacd8c17";

interface Pack {
  proc: ChildProcess;
  client: InstanceType<typeof AnalyzerClient>;
  stderr: string[];
}

/** Starts a pack under the SDK's runner, with or without the preload; resolves once its port is printed. */
async function startPack(dir: string, preload: boolean): Promise<Pack> {
  const report = path.join(work, "report.js");
  const args = [...(preload ? ["--require", PRELOAD] : []), "--require", report, RUNNER, "127.0.0.1:1", dir];
  const proc = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const stderr: string[] = [];
  readline.createInterface({ input: proc.stderr! }).on("line", (l) => stderr.push(l));
  const port = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`the pack exited (${code}) before its port: ${stderr.join("\n")}`)));
  });
  const client = new AnalyzerClient(`127.0.0.1:${port.trim()}`, grpc.credentials.createInsecure());
  return { proc, client, stderr };
}

/** What the process has loaded (the report preload answers SIGUSR2 with its module list). */
async function loadedModules(p: Pack): Promise<string[]> {
  const seen = p.stderr.length;
  p.proc.kill("SIGUSR2");
  for (;;) {
    const line = p.stderr.slice(seen).find((l) => l.startsWith("MODULES "));
    if (line) return JSON.parse(line.slice("MODULES ".length)) as string[];
    await new Promise((r) => p.proc.stderr!.once("data", r));
  }
}

async function stop(p: Pack): Promise<void> {
  p.client.close();
  if (p.proc.exitCode !== null) return;
  const exited = new Promise((r) => p.proc.once("exit", r));
  p.proc.kill("SIGKILL");
  await exited;
}

/** A message without its stack frames (colored or not) and with the pack's paths left out. */
const withoutFrames = (text: string) =>
  text
    .split("\n")
    // eslint-disable-next-line no-control-regex -- a colored frame starts with an ANSI escape
    .filter((l) => !/^(\x1b\[\d+m)?\s*at /.test(l))
    .join("\n")
    .replace(/\(?\/[^\s)]+:\d+:\d+\)?/g, "<at>");

type Answer = { ok: unknown } | { error: { code: number; details: string } };
/** One call, its answer as plain data (the error's message with the pack's file paths and line numbers left out). */
function call(p: Pack, method: string, req: unknown): Promise<Answer> {
  return new Promise((resolve) => {
    const send = (p.client as unknown as Record<string, (req: unknown, cb: (err: unknown, res: unknown) => void) => void>)[method].bind(
      p.client,
    );
    send(req, (err, res) => {
      const e = err as { code: number; details: string } | null;
      resolve(e ? { error: { code: e.code, details: withoutFrames(e.details) } } : { ok: (res as { toObject(): unknown }).toObject() });
    });
  });
}

const struct = (v: Record<string, unknown>) =>
  structproto.Struct.fromJavaScript(v as Parameters<typeof structproto.Struct.fromJavaScript>[0]);
const urn = (type: string, name: string) => `urn:pulumi:acme::penguinmails-infra::${type}::${name}`;
const TENANT_PLAN = "pulumi-nodejs:dynamic/penguinmails:TenantPlan";
const INSTANCE = "pulumi-nodejs:dynamic/hostwinds:Instance";
const SECONDARY_IP = "pulumi-nodejs:dynamic/hostwinds:SecondaryIp";
const DNS_RECORD = "pulumi-nodejs:dynamic/cloudflare:DnsRecord";

function options(parent?: string) {
  const o = new analyzerproto.AnalyzerResourceOptions();
  o.setProtect(false);
  o.setIgnorechangesList(["tags"]);
  if (parent) o.setParent(parent);
  return o;
}

function analyzeRequest(type: string, name: string, props: Record<string, unknown>) {
  const r = new analyzerproto.AnalyzeRequest();
  r.setType(type);
  r.setName(name);
  r.setUrn(urn(type, name));
  r.setProperties(struct(props));
  r.setOptions(options());
  const provider = new analyzerproto.AnalyzerProviderResource();
  provider.setType("pulumi:providers:pulumi-nodejs");
  provider.setName("default");
  provider.setUrn(urn("pulumi:providers:pulumi-nodejs", "default"));
  provider.setProperties(struct({ version: "3.276.0" }));
  r.setProvider(provider);
  return r;
}

function stackResource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  o: { parent?: string; deps?: string[]; propDeps?: Record<string, string[]> } = {},
) {
  const r = new analyzerproto.AnalyzerResource();
  r.setType(type);
  r.setName(name);
  r.setUrn(urn(type, name));
  r.setProperties(struct(props));
  r.setOptions(options(o.parent));
  if (o.parent) r.setParent(o.parent);
  r.setDependenciesList(o.deps ?? []);
  for (const [k, urns] of Object.entries(o.propDeps ?? {})) {
    const d = new analyzerproto.AnalyzerPropertyDependencies();
    d.setUrnsList(urns);
    r.getPropertydependenciesMap().set(k, d);
  }
  return r;
}

function configureRequest(config: Record<string, { level: number; props?: Record<string, unknown> }>) {
  const r = new analyzerproto.ConfigureAnalyzerRequest();
  for (const [name, c] of Object.entries(config)) {
    const pc = new analyzerproto.PolicyConfig();
    pc.setEnforcementlevel(c.level);
    pc.setProperties(struct(c.props ?? {}));
    r.getPolicyconfigMap().set(name, pc);
  }
  return r;
}

/** The requests a preview of the project's tenants sends its pack, and a few it does not yet. */
function projectRequests(): Array<[string, unknown]> {
  const plan = (over: Record<string, unknown> = {}) => ({
    tenant: "acme",
    tier: "starter",
    monthlyBudgetUsd: 50,
    servers: 1,
    sendingIps: 2,
    projectedMonthlyUsd: 20,
    ...over,
  });
  const server = urn(INSTANCE, "mx1");
  const ip = (n: number, tenant = "acme") =>
    stackResource(
      SECONDARY_IP,
      `mx1-ip${n}`,
      { tenant, serviceId: UNKNOWN },
      { parent: server, deps: [server], propDeps: { serviceId: [server] } },
    );
  const stack = (...rs: analyzerproto.AnalyzerResource[]) => {
    const r = new analyzerproto.AnalyzeStackRequest();
    r.setResourcesList(rs);
    return r;
  };
  const tenantPlan = (over: Record<string, unknown> = {}) => stackResource(TENANT_PLAN, "acme", plan(over));
  const instance = (over: Record<string, unknown> = {}) =>
    stackResource(INSTANCE, "mx1", { tenant: "acme", name: "mx1", plan: 102, billingCycle: "monthly", ...over });
  const record = (type: string, name: string, content: unknown = "v") =>
    stackResource(DNS_RECORD, `${type}-${name}`, { type, name, content });
  const stackTags = new analyzerproto.AnalyzerStackConfigureRequest();
  stackTags.setStack("acme");
  stackTags.setProject("penguinmails-infra");
  stackTags.setDryRun(true);
  stackTags.getTagsMap().set("tenant", "acme");
  return [
    ["getPluginInfo", new emptyproto.Empty()],
    ["getAnalyzerInfo", new emptyproto.Empty()],
    ["configureStack", stackTags],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan())],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan({ sendingIps: 40, mailboxes: 900, projectedMonthlyUsd: 400 }))],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan({ projectedMonthlyUsd: UNKNOWN }))],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan({ tier: UNKNOWN }))],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan({ monthlyBudgetUsd: { [SIG]: SECRET, value: 10 } }))],
    ["analyze", analyzeRequest(INSTANCE, "mx1", { tenant: "acme", billingCycle: "hourly", plan: 102 })],
    ["analyze", analyzeRequest(INSTANCE, "mx1", { tenant: "acme", billingCycle: UNKNOWN, plan: 102 })],
    ["analyzeStack", stack(tenantPlan(), instance(), ip(1), ip(2), record("MX", "acme.example"), record("TXT", "acme.example"))],
    ["analyzeStack", stack(tenantPlan({ monthlyBudgetUsd: 10 }), instance({ allowReplace: true }), ip(1), ip(2), ip(3), ip(4, "bob"))],
    ["analyzeStack", stack(tenantPlan({ tier: UNKNOWN }), instance({ billingCycle: UNKNOWN }), ip(1))],
    ["analyzeStack", stack(instance(), ip(1))],
    ["analyzeStack", stack(tenantPlan(), tenantPlan())],
    [
      "configure",
      configureRequest({
        "monthly-cost-within-budget": { level: analyzerproto.EnforcementLevel.ADVISORY, props: { ipMonthlyPriceUsd: 40 } },
        "sending-domains-authenticated": { level: analyzerproto.EnforcementLevel.DISABLED },
        "sending-ips-within-tier": { level: analyzerproto.EnforcementLevel.MANDATORY, props: { tiers: { starter: { maxSendingIps: 1 } } } },
      }),
    ],
    ["analyzeStack", stack(tenantPlan({ monthlyBudgetUsd: 60 }), instance(), ip(1), ip(2), record("MX", "acme.example"))],
    ["analyze", analyzeRequest(TENANT_PLAN, "acme", plan({ sendingIps: 3 }))],
    ["remediate", analyzeRequest(INSTANCE, "mx1", { tenant: "acme", plan: 102 })],
  ];
}

/** A pack with what the project's does not use: a remediation, a policy that throws, one that reads an asset. */
const SMALL_PACK = `const { PolicyPack } = require("@pulumi/policy");
new PolicyPack("small", {
  policies: [
    { name: "tag-it", description: "Tags every resource.", enforcementLevel: "remediate",
      remediateResource: (args) => ({ ...args.props, tagged: true }) },
    { name: "throws", description: "Throws on a marked resource.", enforcementLevel: "mandatory",
      validateResource: (args, report) => { if (args.props.boom) throw new Error("boom on " + args.name); } },
    { name: "reads-assets", description: "Names the kind of an asset property.", enforcementLevel: "advisory",
      validateResource: (args, report) => { const a = args.props.file; if (a) report("asset " + a.constructor.name); } },
    { name: "not-here", description: "Says it does not apply.", enforcementLevel: "advisory",
      validateResource: (args) => args.notApplicable("not for " + args.type) },
  ],
});
`;

function smallRequests(): Array<[string, unknown]> {
  const T = "test:index:Thing";
  return [
    ["getAnalyzerInfo", new emptyproto.Empty()],
    ["analyze", analyzeRequest(T, "a", { name: "a" })],
    ["analyze", analyzeRequest(T, "b", { boom: true })],
    ["analyze", analyzeRequest(T, "c", { file: { [SIG]: ASSET, text: "hello" } })],
    ["analyze", analyzeRequest(T, "d", { file: { [SIG]: ASSET, path: "./x.txt" } })],
    ["remediate", analyzeRequest(T, "e", { name: "e", secret: { [SIG]: SECRET, value: "s3cret" } })],
    ["remediate", analyzeRequest(T, "f", { name: UNKNOWN })],
  ];
}

async function answersOf(
  dir: string,
  preload: boolean,
  requests: Array<[string, unknown]>,
): Promise<{ answers: Answer[]; modules: string[] }> {
  const p = await startPack(dir, preload);
  try {
    const answers: Answer[] = [];
    for (const [method, req] of requests) answers.push(await call(p, method, req));
    return { answers, modules: await loadedModules(p) };
  } finally {
    await stop(p);
  }
}

/** The same requests to the pack under the SDK's runner and under the preload: the same answers, which say each of `says`. */
async function sameAnswers(dir: string, requests: () => Array<[string, unknown]>, says: string[]) {
  const sdk = await answersOf(dir, false, requests());
  const ours = await answersOf(dir, true, requests());
  expect(ours.answers).toEqual(sdk.answers);
  const text = JSON.stringify(sdk.answers);
  for (const s of says) expect(text).toContain(s);
  return { sdk, ours };
}

const sdkRuntime = (modules: string[]) =>
  modules.filter((m) => /@pulumi[\\/]pulumi[\\/](runtime[\\/](resource|settings|state)|log[\\/]index)\.js$/.test(m));

describe("the policy pack without @pulumi/pulumi's runtime", () => {
  beforeAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(path.join(work, "small"), { recursive: true });
    fs.writeFileSync(
      path.join(work, "report.js"),
      `process.on("SIGUSR2", () => process.stderr.write("MODULES " + JSON.stringify(Object.keys(require.cache)) + "\\n"));\n`,
    );
    fs.writeFileSync(path.join(work, "small", "package.json"), JSON.stringify({ name: "small", version: "1.2.3", main: "index.js" }));
    fs.writeFileSync(path.join(work, "small", "index.js"), SMALL_PACK);
    fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(work, "small", "node_modules"));
  });

  test("the project's pack: every answer the same as under the SDK's runner, and none of the runtime loaded", async () => {
    // The cases say something: violations, a can't-run-in-preview, a disabled policy, a config.
    const { sdk, ours } = await sameAnswers(path.join(projectRoot, "policies"), projectRequests, [
      "over the budget",
      "can't run policy",
      "the starter tier allows 1",
      "billed hourly",
      "allows replacement",
      "belongs to tenant bob",
    ]);
    expect(sdkRuntime(sdk.modules).length).toBeGreaterThan(0);
    expect(sdkRuntime(ours.modules)).toEqual([]);
  });

  test("a pack with a remediation, an asset, a throwing policy: the same answers; the runtime loads for the asset", async () => {
    const { ours } = await sameAnswers(path.join(work, "small"), smallRequests, [
      "boom on b",
      "asset StringAsset",
      "asset FileAsset",
      "not for test:index:Thing",
      "tagged",
    ]);
    expect(sdkRuntime(ours.modules).length).toBeGreaterThan(0);
  });

  test("a pack that throws as it loads: the same message and exit code as under the SDK's runner", async () => {
    const dir = path.join(work, "throws");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "throws", version: "1.0.0", main: "index.js" }));
    fs.writeFileSync(path.join(dir, "index.js"), 'throw new Error("the pack is stale: run npm run build");\n');
    const run = (preload: boolean) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [...(preload ? ["--require", PRELOAD] : []), RUNNER, "127.0.0.1:1", dir], { cwd: dir });
        let stderr = "";
        proc.stderr.on("data", (d) => (stderr += d));
        proc.on("exit", (code) => resolve({ code, stderr: withoutFrames(stderr) }));
      });
    const sdk = await run(false);
    const ours = await run(true);
    expect(sdk.stderr).toContain("the pack is stale");
    expect(ours).toEqual(sdk);
    expect(ours.code).not.toBe(0);
  });

  test("a pack not built: its main file and the build are named, exit 32", async () => {
    const dir = path.join(work, "unbuilt");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "unbuilt", version: "1.0.0", main: "dist/index.js" }));
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, ["--require", PRELOAD, RUNNER, "127.0.0.1:1", dir], { cwd: dir });
      let stderr = "";
      proc.stderr.on("data", (d) => (stderr += d));
      proc.on("exit", (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(32);
    expect(r.stderr).toContain(`main file ${path.join(dir, "dist", "index.js")} does not exist`);
    expect(r.stderr).toContain("npm run build");
  });
});
