/**
 * The project's dynamic-provider host (providers/lib/dynamic-provider-host.ts) answers as
 * @pulumi/pulumi's own (cmd/dynamic-provider/index.js) does: both processes are started, the same
 * ResourceProvider requests sent to each over gRPC, and every answer compared field by field,
 * errors included (code, message and the `grpc-status-details-bin` that carries
 * ErrorResourceInitFailed). The SDK's host is the judge; the engine tests then run every dynamic
 * resource through the project's host.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { engineEnv } from "../../scripts/lib/engine/pulumi-env";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";

const ROOT = path.resolve(__dirname, "..", "..");
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "s3cret-config" };

/** A provider as a `__provider` text: it echoes what it is given, and fails on request. */
const PROVIDER = `exports.handler = function () {
  let config;
  return {
    configure: async (req) => { config = { key: req.config.get("key"), other: req.config.get("other:thing") }; },
    check: async (olds, news) => news.bad ? { failures: [{ property: "bad", reason: "bad is set" }] } : { inputs: { ...news, checked: true } },
    diff: async (id, olds, news) => news.same ? { changes: false } : news.unsure ? {} : { changes: true, replaces: ["name"], deleteBeforeReplace: true },
    create: async (inputs) => {
      if (inputs.failWithId) throw Object.assign(new Error("made but not ready"), { id: "half-1", properties: { a: 1 }, reasons: ["not ready"] });
      if (inputs.fail) throw new Error("refused: " + inputs.fail);
      return { id: "id-" + inputs.name, outs: { name: inputs.name, config } };
    },
    read: async (id, props) => ({ id, props: { ...props, read: true }, inputs: { name: props.name } }),
    update: async (id, olds, news) => news.failWithId ? Promise.reject(Object.assign(new Error("update half done"), { id })) : { outs: { name: news.name, was: olds.name } },
    delete: async (id, props) => { if (props.fail) throw new Error("cannot delete " + id); },
  };
};
`;

interface Host {
  process: ChildProcess;
  client: provrpc.ResourceProviderClient;
}

async function startHost(args: string[]): Promise<Host> {
  const p = spawn(process.execPath, [...args, "127.0.0.1:1"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, PULUMI_NODEJS_PROJECT: "proj" },
  });
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    p.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    p.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code} before printing its port`)));
  });
  return { process: p, client: new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) };
}

type Outcome = { ok: unknown } | { error: { code?: number; details?: string; detailsBin?: string } };

/** One unary call, its answer or error as plain data. */
function ask(client: provrpc.ResourceProviderClient, method: string, request: unknown): Promise<Outcome> {
  return new Promise((resolve) =>
    (client as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null, v?: { toObject(): unknown }) => void) => void>)[
      method
    ](request, (e, v) => {
      if (e) {
        const bin = e.metadata?.get("grpc-status-details-bin")[0];
        resolve({
          error: { code: e.code, details: e.details, detailsBin: bin ? Buffer.from(bin as Buffer).toString("base64") : undefined },
        });
      } else resolve({ ok: v?.toObject() });
    }),
  );
}

const struct = (o: Record<string, unknown>) => structproto.Struct.fromJavaScript(o as never);

function requests(): Array<[string, string, unknown]> {
  const props = (o: Record<string, unknown>) => struct({ __provider: PROVIDER, ...o });
  const configure = new provproto.ConfigureRequest();
  configure.setArgs(struct({ "proj:key": SECRET, "other:thing": 7, __provider: "x" }));
  const check = (olds: Record<string, unknown>, news: Record<string, unknown>) => {
    const r = new provproto.CheckRequest();
    r.setOlds(struct(olds));
    r.setNews(struct(news));
    return r;
  };
  const diff = (news: Record<string, unknown>) => {
    const r = new provproto.DiffRequest();
    r.setId("id-a");
    r.setOlds(props({ name: "a" }));
    r.setNews(props(news));
    return r;
  };
  const create = (o: Record<string, unknown>) => {
    const r = new provproto.CreateRequest();
    r.setProperties(props(o));
    return r;
  };
  const read = new provproto.ReadRequest();
  read.setId("id-a");
  read.setInputs(props({ name: "a" }));
  const update = (news: Record<string, unknown>) => {
    const r = new provproto.UpdateRequest();
    r.setId("id-a");
    r.setOlds(props({ name: "a" }));
    r.setNews(props(news));
    return r;
  };
  const del = (o: Record<string, unknown>) => {
    const r = new provproto.DeleteRequest();
    r.setId("id-a");
    r.setProperties(props(o));
    return r;
  };
  const invoke = new provproto.InvokeRequest();
  invoke.setTok("x:y:z");
  return [
    ["configure", "configure", configure],
    ["check", "check: new inputs", check({}, { __provider: PROVIDER, name: "a" })],
    ["check", "check: a failure", check({}, { __provider: PROVIDER, bad: true })],
    ["check", "check: the provider not known yet", check({ __provider: PROVIDER }, { __provider: UNKNOWN, name: "b" })],
    ["diff", "diff: a replacement", diff({ name: "b" })],
    ["diff", "diff: no change", diff({ name: "a", same: true })],
    ["diff", "diff: unknown", diff({ name: "a", unsure: true })],
    ["create", "create", create({ name: "a" })],
    ["create", "create: made but failed (ErrorResourceInitFailed)", create({ name: "a", failWithId: true })],
    ["create", "create: refused", create({ name: "a", fail: "no" })],
    ["read", "read from inputs", read],
    ["update", "update", update({ name: "b" })],
    ["update", "update: half done", update({ name: "b", failWithId: true })],
    ["delete", "delete", del({ name: "a" })],
    ["delete", "delete: refused", del({ name: "a", fail: true })],
    ["getPluginInfo", "getPluginInfo", new emptyproto.Empty()],
    ["invoke", "invoke", invoke],
    ["handshake", "handshake", new provproto.ProviderHandshakeRequest()],
    ["attach", "attach", new plugproto.PluginAttach()],
  ];
}

describe("the project's dynamic-provider host", () => {
  let sdk: Host;
  let ours: Host;
  beforeAll(async () => {
    [sdk, ours] = await Promise.all([
      startHost([require.resolve("@pulumi/pulumi/cmd/dynamic-provider/index.js")]),
      startHost([path.join(ROOT, "dist", "providers", "lib", "dynamic-provider-host.js")]),
    ]);
  });
  afterAll(() => {
    for (const h of [sdk, ours]) {
      h?.client.close();
      h?.process.kill();
    }
  });

  it("answers every ResourceProvider request as @pulumi/pulumi's host does", async () => {
    for (const [method, what, request] of requests()) {
      const [theirs, mine] = [await ask(sdk.client, method, request), await ask(ours.client, method, request)];
      expect({ what, answer: mine }).toEqual({ what, answer: theirs });
    }
  });

  it("gets the config Configure gave, the secret unwrapped", async () => {
    const r = new provproto.CreateRequest();
    r.setProperties(struct({ __provider: PROVIDER.replace("let config;", "let config; // another provider text"), name: "c" }));
    const c = new provproto.ConfigureRequest();
    c.setArgs(struct({ "proj:key": SECRET, "other:thing": 7 }));
    await ask(ours.client, "configure", c);
    const got = (await ask(ours.client, "create", r)) as { ok: { propertiesMap: unknown } };
    expect(JSON.stringify(got.ok)).toContain("s3cret-config");
    expect(JSON.stringify(got.ok)).toContain('"other",{"numberValue":7');
  });

  test("the toolchain's shim starts the project's host, or the SDK's with PENGUINMAILS_SDK_DYNAMIC_PROVIDER=1", async () => {
    const env = engineEnv();
    const shim = path.join(env.PATH.split(":")[0], "pulumi-resource-pulumi-nodejs");
    const started = async (extra: Record<string, string>) => {
      const p = spawn(shim, ["127.0.0.1:1"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env, ...extra } });
      try {
        await new Promise<void>((resolve, reject) => {
          p.stdout!.once("data", () => resolve());
          p.once("exit", (code) => reject(new Error(`the shim exited ${code} before printing its port`)));
        });
        return fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0").join(" ");
      } finally {
        p.kill();
      }
    };
    expect(await started({})).toMatch(/dist\/providers\/lib\/dynamic-provider-host\.js/);
    expect(await started({ PENGUINMAILS_SDK_DYNAMIC_PROVIDER: "1" })).toMatch(/@pulumi\/pulumi\/cmd\/dynamic-provider\/index\.js/);
  });

  test("served in a long-lived process, a run's provider modules are not kept by the host after the run", () => {
    // In plain Node (Node's own module cache): three runs, each a new service that loads a provider
    // through a `__provider` text; after each, the run's modules are forgotten as an engine worker
    // forgets them. The host module must not hold the runs' `__provider` modules as its children (a
    // worker's heap grew ~0.6 MiB a tenant that way), and the first run's provider object must be
    // collectable.
    const host = path.join(ROOT, "dist", "providers", "lib", "dynamic-provider-host.js");
    const forget = path.join(ROOT, "dist", "scripts", "lib", "stacks", "in-process-providers.js");
    const script = `
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [require.resolve("@pulumi/pulumi/package.json")] }));
const provrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const provproto = require("@pulumi/pulumi/proto/provider_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const { serveProviders } = require(${JSON.stringify(host)});
const { forgetProviderModules } = require(${JSON.stringify(forget)});
const text = 'exports.handler = () => { const p = { check: async (o, n) => ({ inputs: n }) }; globalThis.__refs.push(new WeakRef(p)); return p; };';
globalThis.__refs = [];
(async () => {
  for (let i = 0; i < 3; i++) {
    const served = await serveProviders({ attached: true });
    const client = new provrpc.ResourceProviderClient("127.0.0.1:" + served.port, grpc.credentials.createInsecure());
    const r = new provproto.CheckRequest();
    r.setOlds(structproto.Struct.fromJavaScript({}));
    r.setNews(structproto.Struct.fromJavaScript({ __provider: text, n: i }));
    await new Promise((res, rej) => client.check(r, (e) => (e ? rej(e) : res())));
    client.close();
    served.stop();
    forgetProviderModules(${JSON.stringify(ROOT)});
  }
  await new Promise((r) => setTimeout(r, 100));
  global.gc(); global.gc();
  const children = require.cache[${JSON.stringify(host)}].children.filter((c) => /__dynamic_provider__/.test(c.id)).length;
  process.stdout.write(JSON.stringify({ children, firstCollected: globalThis.__refs[0].deref() === undefined, runs: globalThis.__refs.length }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;
    const r = spawnSync(process.execPath, ["--expose-gc", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ children: 0, firstCollected: true, runs: 3 });
  });
});
