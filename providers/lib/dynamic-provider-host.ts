/**
 * The process the engine starts for this project's dynamic resources (`pulumi-nodejs:dynamic/…`),
 * in place of @pulumi/pulumi's own host (cmd/dynamic-provider/index.js). It speaks the same
 * ResourceProvider protocol with the same answers, method by method, but loads only gRPC, the
 * generated protocol messages and the providers it serves: not the SDK's runtime (the whole
 * `@pulumi/pulumi` module graph) nor source-map-support, about 0.2 s of CPU per engine run
 * (issue 29; docs/contributors.md, "Node processes per preview"). The scripts/toolchain shim
 * `pulumi-resource-pulumi-nodejs` starts it when the project has it built, and the SDK's host
 * otherwise.
 *
 * Wire behaviour, from @pulumi/pulumi 3.276 cmd/dynamic-provider/index.js (public source):
 * - a resource's provider is the module text in its `__provider` input, loaded as a CommonJS
 *   module (the SDK uses `require-from-string`) and its `handler()` called; loaded and configured
 *   once per process, keyed by that text (`getProvider`), from the new inputs, or the old ones
 *   when the new `__provider` is not known yet;
 * - Configure keeps the request's `args` (without `__provider`, secrets unwrapped) as the config,
 *   read through a `get(key)` that prefixes bare keys with the project (cmd/dynamic-provider/
 *   config.js, PULUMI_NODEJS_PROJECT via metadata.getProject), and answers acceptSecrets=false;
 * - Check puts the new `__provider` back into the checked inputs; Create, Read and Update return
 *   it among the outputs (`resultIncludingProvider`);
 * - an error carrying `id` from Create or Update becomes Pulumi's ErrorResourceInitFailed in the
 *   status details (`grpc-status-details-bin`), so the engine keeps the resource and its id;
 * - Handshake, Attach, CheckConfig, DiffConfig, Invoke and the rest answer as the SDK's do
 *   (unimplemented or "unknown function"), GetPluginInfo the SDK's version;
 * - the port is printed on stdout once the server listens; uncaught errors are printed and make
 *   the exit code non-zero.
 */
import * as fs from "fs";
import { createRequire } from "module";
import * as path from "path";

/** @pulumi/pulumi runtime/rpc.js: the marker of a value not known yet, and of a secret. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const PROVIDER_KEY = "__provider";
/** @pulumi/pulumi runtime/settings.js grpcChannelOptions. */
const CHANNEL_OPTIONS = { "grpc.max_receive_message_length": 1024 * 1024 * 400, "grpc.server_max_unrequested_time_in_server": 30 * 60 };

type Props = Record<string, unknown>;
/** The dynamic provider shape (pulumi.dynamic.ResourceProvider), as loose as the SDK's host treats it. */
interface Provider {
  configure?(req: { config: { get(key: string): unknown; require(key: string): unknown } }): Promise<void>;
  check?(olds: Props, news: Props): Promise<{ inputs?: Props; failures?: Array<{ property: string; reason: string }> }>;
  diff?(id: string, olds: Props, news: Props): Promise<{ changes?: boolean; replaces?: string[]; deleteBeforeReplace?: boolean }>;
  create(inputs: Props): Promise<{ id: string; outs?: Props }>;
  read?(id: string, props: Props): Promise<{ id: string; props?: Props; inputs?: Props }>;
  update?(id: string, olds: Props, news: Props): Promise<{ outs?: Props } | undefined>;
  delete?(id: string, props: Props): Promise<void>;
}
/** A protobuf message as google-protobuf generates it: getters and setters by field. */
type Message = Record<string, (...a: unknown[]) => unknown> & { toJavaScript(): Props };
type Callback = (err: unknown, value?: unknown, metadata?: unknown) => void;
type Call = { request: Message };
// The SDK's own copies of gRPC and its protocol messages, loaded from where it resolves them.
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi/package.json"));
const grpc = sdkRequire("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const structproto = sdkRequire("google-protobuf/google/protobuf/struct_pb") as { Struct: { fromJavaScript(v: Props): unknown } };
const emptyproto = sdkRequire("google-protobuf/google/protobuf/empty_pb") as { Empty: new () => unknown };
const anyproto = sdkRequire("google-protobuf/google/protobuf/any_pb") as { Any: new () => { pack(b: Uint8Array, name: string): void } };
const provproto = sdkRequire("./proto/provider_pb") as Record<string, new () => Message> & {
  DiffResponse: (new () => Message) & { DiffChanges: Record<string, number> };
};
const provrpc = sdkRequire("./proto/provider_grpc_pb") as { ResourceProviderService: import("@grpc/grpc-js").ServiceDefinition };
const plugproto = sdkRequire("./proto/plugin_pb") as { PluginInfo: new () => Message };
const statusproto = sdkRequire("./proto/status_pb") as { Status: new () => Message & { serializeBinary(): Uint8Array } };
const { version } = sdkRequire("./version") as { version: string };

const unwrapSecret = (v: unknown) => (v && typeof v === "object" && (v as Props)[SIG_KEY] === SECRET_SIG ? (v as Props).value : v);

/**
 * A `__provider` text loaded as a module in the working folder, as require-from-string does. It has
 * no parent module: a parent keeps its children, and in an engine worker (scripts/lib/stacks/
 * in-process-providers.ts) each run's provider modules would then stay reachable from this one.
 */
function moduleFromString(text: string): { handler(): Provider } {
  const filename = path.join(process.cwd(), "__dynamic_provider__.js");
  const Module = require("module") as {
    new (id: string, parent?: unknown): NodeModule & { _compile(c: string, f: string): void };
    _nodeModulePaths(d: string): string[];
  };
  const m = new Module(filename);
  m.filename = filename;
  m.paths = Module._nodeModulePaths(path.dirname(filename));
  m._compile(text, filename);
  return m.exports as { handler(): Provider };
}

/** The resource's provider, loaded and configured once per service (the SDK's `getProvider`, once per process). */
async function providerOf(props: Props, state: HostState): Promise<Provider> {
  const text = String(props[PROVIDER_KEY]);
  const { config, providers, project } = state;
  let p = providers.get(text);
  if (!p) {
    p = moduleFromString(text).handler();
    providers.set(text, p);
    if (p.configure) {
      const get = (key: string) => config[key.includes(":") ? key : `${project}:${key}`];
      const require = (key: string) => {
        const v = get(key);
        if (v === undefined) throw new Error(`Missing required configuration key: ${key}`);
        return v;
      };
      await p.configure({ config: { get, require } });
    }
  }
  return p;
}

const withProvider = (result: Props | undefined, props: Props): Props =>
  Object.assign(result ?? {}, { [PROVIDER_KEY]: props[PROVIDER_KEY] });
const struct = (v: Props) => structproto.Struct.fromJavaScript(v);

/** An error from Create or Update; with `id`, the engine's ErrorResourceInitFailed (the SDK's grpcResponseFromError). */
function errorResponse(e: { message?: string; id?: string; properties?: Props; reasons?: string[] }) {
  const metadata = new grpc.Metadata();
  if (e.id) {
    const status = new statusproto.Status();
    status.setCode(grpc.status.UNKNOWN);
    status.setMessage(e.message);
    const detail = new provproto.ErrorResourceInitFailed();
    detail.setId(e.id);
    detail.setProperties(struct(e.properties ?? {}));
    detail.setReasonsList(e.reasons ?? []);
    const any = new anyproto.Any();
    any.pack((detail as unknown as { serializeBinary(): Uint8Array }).serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
    status.addDetails(any);
    metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
  }
  return { code: grpc.status.UNKNOWN, message: e.message, metadata };
}

/** A method that reports its failure as the SDK's does: printed, and the error as the call's. */
function handled(fn: (req: Message) => Promise<unknown>) {
  return (call: Call, callback: Callback) =>
    fn(call.request).then(
      (resp) => callback(undefined, resp),
      (e: Error) => {
        console.error(`${e}: ${e.stack}`);
        callback(e, undefined);
      },
    );
}

/** Create and Update: a failure carrying `id` keeps the resource (ErrorResourceInitFailed). */
function writing(fn: (req: Message) => Promise<unknown>) {
  return (call: Call, callback: Callback) =>
    fn(call.request).then(
      (resp) => callback(undefined, resp),
      (e: Error) => {
        const r = errorResponse(e);
        callback(r, null, r.metadata);
      },
    );
}

const unimplemented = (what: string) => (_call: unknown, callback: Callback) =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: `${what} is not implemented by the dynamic provider` }, undefined);

/** One service's state: the config Configure last gave, and the providers loaded so far. */
interface HostState {
  config: Props;
  providers: Map<string, Provider>;
  /** Bare config keys are read in this project's namespace. */
  project: string;
}

export interface ServiceOptions {
  /** The project whose namespace bare config keys are in (default PULUMI_NODEJS_PROJECT, which the engine sets, or the SDK's "project"). */
  project?: string;
  /**
   * Served to an engine that attaches to it (PULUMI_DEBUG_PROVIDERS) instead of one that started
   * this process: the engine then calls Attach, which must succeed (the SDK's host, never attached
   * to, answers it as unimplemented).
   */
  attached?: boolean;
}

/** The ResourceProvider service: one per process, or one per engine run when attached to. */
export function resourceProviderService(o: ServiceOptions = {}): Record<string, unknown> {
  const project = o.project ?? (process.env.PULUMI_NODEJS_PROJECT || "project"); // runtime/state.js's default
  const state: HostState = { config: {}, providers: new Map(), project };
  const attach = o.attached ? { attach: (_call: unknown, callback: Callback) => callback(undefined, new emptyproto.Empty()) } : {};
  return { ...configuring(state), ...reading(state), ...changing(state), ...fixedAnswers(), ...attach };
}

/** Cancel, Configure and the config checks the SDK's host does not implement either. */
function configuring(state: HostState): Record<string, unknown> {
  return {
    cancel: (_call: unknown, callback: Callback) => callback(undefined, new emptyproto.Empty()),
    configure: handled(async (req) => {
      const args = (req.getArgs() as Message | undefined)?.toJavaScript();
      if (!args) throw new Error("ConfigureRequest missing args");
      state.config = Object.fromEntries(
        Object.entries(args)
          .filter(([k]) => k !== PROVIDER_KEY)
          .map(([k, v]) => [k, unwrapSecret(v)]),
      );
      const resp = new provproto.ConfigureResponse();
      resp.setAcceptsecrets(false);
      return resp;
    }),
    checkConfig: unimplemented("CheckConfig"),
    diffConfig: unimplemented("DiffConfig"),
  };
}

/** Check, Diff and Read: the provider is asked, nothing is written. */
function reading(state: HostState): Record<string, unknown> {
  return {
    check: handled(async (req) => {
      const olds = (req.getOlds() as Message).toJavaScript();
      const news = (req.getNews() as Message).toJavaScript();
      const p = await providerOf(news[PROVIDER_KEY] === UNKNOWN ? olds : news, state);
      const result = p.check ? await p.check(olds, news) : {};
      const inputs = result.inputs ?? news;
      inputs[PROVIDER_KEY] = news[PROVIDER_KEY];
      const resp = new provproto.CheckResponse();
      resp.setInputs(struct(inputs));
      if (result.failures?.length) resp.setFailuresList(result.failures.map(checkFailure));
      return resp;
    }),
    diff: handled(async (req) => {
      const olds = (req.getOlds() as Message).toJavaScript();
      const news = (req.getNews() as Message).toJavaScript();
      const p = await providerOf(news[PROVIDER_KEY] === UNKNOWN ? olds : news, state);
      const resp = new provproto.DiffResponse();
      if (p.diff) {
        const result = await p.diff(String(req.getId()), olds, news);
        const { DIFF_SOME, DIFF_NONE, DIFF_UNKNOWN } = provproto.DiffResponse.DiffChanges;
        resp.setChanges(result.changes === true ? DIFF_SOME : result.changes === false ? DIFF_NONE : DIFF_UNKNOWN);
        if (result.replaces?.length) resp.setReplacesList(result.replaces);
        if (result.deleteBeforeReplace) resp.setDeletebeforereplace(result.deleteBeforeReplace);
      }
      return resp;
    }),
    read: handled(async (req) => {
      const id = String(req.getId());
      // On a refresh the engine sends the prior outputs; on a user's get only the inputs.
      let props = (req.getProperties() as Message | undefined)?.toJavaScript() ?? {};
      const inputs = req.getInputs() as Message | undefined;
      if (!Object.keys(props).length && inputs) props = inputs.toJavaScript();
      const p = await providerOf(props, state);
      const resp = new provproto.ReadResponse();
      if (!p.read) {
        resp.setId(id);
        resp.setProperties(struct(props));
        return resp;
      }
      const result = await p.read(id, props);
      resp.setId(result.id);
      resp.setProperties(struct(withProvider(result.props, props)));
      if (result.inputs) resp.setInputs(struct(withProvider(result.inputs, props)));
      return resp;
    }),
  };
}

function checkFailure(f: { property: string; reason: string }): Message {
  const failure = new provproto.CheckFailure();
  failure.setProperty(f.property);
  failure.setReason(f.reason);
  return failure;
}

/** Create, Update and Delete. */
function changing(state: HostState): Record<string, unknown> {
  return {
    create: writing(async (req) => {
      const props = (req.getProperties() as Message).toJavaScript();
      const result = await (await providerOf(props, state)).create(props);
      const resp = new provproto.CreateResponse();
      resp.setId(result.id);
      resp.setProperties(struct(withProvider(result.outs, props)));
      return resp;
    }),
    update: writing(async (req) => {
      const olds = (req.getOlds() as Message).toJavaScript();
      const news = (req.getNews() as Message).toJavaScript();
      const p = await providerOf(news, state);
      const result = (p.update ? await p.update(String(req.getId()), olds, news) : undefined) ?? {};
      const resp = new provproto.UpdateResponse();
      resp.setProperties(struct(withProvider(result.outs, news)));
      return resp;
    }),
    delete: handled(async (req) => {
      const props = (req.getProperties() as Message).toJavaScript();
      const p = await providerOf(props, state);
      if (p.delete) await p.delete(String(req.getId()), props);
      return new emptyproto.Empty();
    }),
  };
}

/** The answers that do not depend on a resource: the SDK host's, word for word. */
function fixedAnswers(): Record<string, unknown> {
  return {
    invoke: (call: Call, callback: Callback) => callback(new Error(`unknown function ${String(call.request.getTok())}`), undefined),
    getPluginInfo: (_call: unknown, callback: Callback) => {
      const resp = new plugproto.PluginInfo();
      resp.setVersion(version);
      callback(undefined, resp);
    },
    handshake: unimplemented("Handshake"),
    getSchema: unimplemented("GetSchema"),
    construct: unimplemented("Construct"),
    parameterize: unimplemented("Parameterize"),
    call: unimplemented("Call"),
    attach: unimplemented("Attach"),
    getMapping: unimplemented("GetMapping"),
    getMappings: unimplemented("GetMappings"),
    list: (call: { emit(e: string, v: unknown): void }) =>
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "List is not implemented by the dynamic provider" }),
  };
}

/** A served ResourceProvider: its loopback port, and how to stop it. */
export interface ServedProviders {
  port: number;
  stop(): void;
}

/** Serves the dynamic providers on a loopback port. */
export async function serveProviders(o: ServiceOptions = {}): Promise<ServedProviders> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(provrpc.ResourceProviderService, resourceProviderService(o) as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, stop: () => server.forceShutdown() };
}

/** Serves the provider on a loopback port and prints it (the engine reads it from stdout). */
export async function main(args: string[]): Promise<void> {
  if (!args.length) {
    console.error("fatal: Missing <engine> address");
    process.exit(-1);
  }
  fs.writeSync(1, `${(await serveProviders()).port}\n`);
}

if (require.main === module) {
  const uncaught = new Set<unknown>();
  const report = (err: unknown) => {
    if (uncaught.has(err)) return;
    uncaught.add(err);
    console.error((err as Error)?.stack || (err as Error)?.message || String(err));
  };
  process.on("uncaughtException", report);
  process.on("unhandledRejection", report);
  process.on("exit", (code) => {
    if (code === 0 && uncaught.size) process.exitCode = 1;
  });
  void main(process.argv.slice(2));
}
