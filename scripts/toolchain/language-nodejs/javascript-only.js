// Loaded (node --require) first into the Node processes of a program or policy pack whose
// Pulumi.yaml / PulumiPolicy.yaml says `runtime: {name: nodejs, options: {typescript: false}}`
// (main.go), and into every dynamic-provider process (../dynamic-provider/pulumi-resource-pulumi-nodejs):
// code that is JavaScript already runs without TypeScript or ts-node loaded.
//
// 1. The policy-pack runner reads no option for it. @pulumi/pulumi's cmd/run-policy-pack passes
//    `typeScript: !process.versions.bun` to ./run (upstream sdk/nodejs/cmd/run-policy-pack/index.ts:
//    "Should have no deleterious impact on JS codebases"), and run() then loads TypeScript, parses
//    the pack's tsconfig.json and registers ts-node in every run, whatever the pack is written in
//    (the program runner, by contrast, reads PULUMI_NODEJS_TYPESCRIPT, which that same option
//    sets). Here the runner's ./run module, the one its entry point is about to require (same
//    file, so the same module object), has run() wrapped to pass `typeScript: false`.
// 2. Every process that loads @pulumi/pulumi's runtime loads TypeScript (9 MB) at start:
//    runtime/index.js → closure/serializeClosure → closure/parseFunction, whose top line is
//    `require("../../typescript-shim")`, although TypeScript is used only when a function is
//    serialized (the other users of the shim already require it on first use). The shim's entry in
//    Node's module cache is made a stand-in that loads the real shim on first use, so a process that
//    serializes nothing never loads it, and one that does gets the same module.
// 3. The program, policy-pack and plugin runners open an inspector session with the debugger on
//    before they load anything else (runtime/closure/v8Hooks.js, `isInitializedAsync`), so that
//    closure serialization can map V8's script ids to files. Every module loaded after that is
//    reported to the session (a `Debugger.scriptParsed` event into JavaScript per module), and
//    enabling the debugger costs on its own: ~50 ms of CPU in each of the program and the pack,
//    for a serialization that never happens here. The wait is made a no-op: the session opens on
//    the first `getSessionAsync` (the serializer's), and `Debugger.enable` then reports every script
//    already loaded, so the same script-id map is there when a function is serialized.
// 4. The program runner loads OpenTelemetry's tracing SDK (cmd/run/tracing.js: the Node tracer
//    provider, the Zipkin exporter, gRPC instrumentation; ~0.1 s of CPU) in every run, though it
//    only starts it for a `--tracing` URL, which this project's language host never passes. When
//    the run is not traced (no `--tracing` argument, no TRACEPARENT from the engine, which
//    cmd/run/instrumentation.js would honour), that module's cache entry is a stand-in: `newSpan`
//    gives the OpenTelemetry API's own span with no provider registered (what the real one gives
//    then: a span that records nothing), and `start`/`stop` load the real module.
// 5. @pulumi/pulumi's index loads its Automation API (LocalWorkspace, execa, the CLI download
//    code; ~40 ms of CPU) in every process that loads the SDK, though a program or a policy pack
//    never drives the CLI: its cache entry is a stand-in like the shim's in 2.
// Everything else (error handling, exit codes, V8 flags, loading the program) is the SDK's.
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");

const entry = process.argv[1] || "";
const cmd = /[\\/]@pulumi[\\/]pulumi[\\/]cmd[\\/]([a-z-]+)(?:[\\/]index(?:\.js)?)?$/.exec(entry);
if (cmd) {
  const sdk = path.resolve(path.dirname(entry.endsWith(".js") ? entry : path.join(entry, "index.js")), "..", "..");

  if (cmd[1] === "run-policy-pack") {
    const runner = require(path.join(sdk, "cmd", "run-policy-pack", "run"));
    const run = runner.run;
    if (typeof run === "function") runner.run = (opts) => run({ ...opts, typeScript: false });
  }

  const hooks = path.join(sdk, "runtime", "closure", "v8Hooks.js");
  if (cmd[1] !== "dynamic-provider" && fs.existsSync(hooks)) {
    const v8Hooks = require(hooks);
    if (typeof v8Hooks.isInitializedAsync === "function" && typeof v8Hooks.getSessionAsync === "function")
      v8Hooks.isInitializedAsync = async () => undefined;
  }

  const tracing = path.join(sdk, "cmd", "run", "tracing.js");
  const traced = !!process.env.TRACEPARENT || process.argv.some((a) => a === "--tracing" || a.startsWith("--tracing="));
  if (cmd[1] === "run" && !traced && fs.existsSync(tracing) && !require.cache[tracing]) {
    let real;
    const load = () => {
      if (!real) {
        delete require.cache[tracing];
        real = require(tracing);
      }
      return real;
    };
    const standIn = new Module(tracing, module);
    standIn.filename = tracing;
    standIn.loaded = true;
    standIn.exports = {
      start: (url) => load().start(url),
      stop: () => load().stop(),
      // The API as the SDK resolves it (this file sits in the toolchain's folder, not the project's).
      newSpan: (name) =>
        real ? real.newSpan(name) : Module.createRequire(tracing)("@opentelemetry/api").trace.getTracer("nodejs-runtime").startSpan(name),
    };
    require.cache[tracing] = standIn;
  }

  // 2. TypeScript, loaded on first use.
  lazyModule(path.join(sdk, "typescript-shim.js"), false);
  // 5. The Automation API, loaded on first use.
  lazyModule(path.join(sdk, "automation", "index.js"), true);
}

/**
 * Makes the cache entry of `file` a stand-in that loads the real module on first use (any property
 * read), so a process that never uses it never loads it, and one that does gets the same module.
 * `esModule`: the real module is compiled TypeScript (`exports.__esModule`), answered without
 * loading it so that `__importStar(require(file))` keeps the stand-in itself.
 */
function lazyModule(file, esModule) {
  if (!fs.existsSync(file) || require.cache[file]) return;
  let real;
  const load = () => {
    if (!real) {
      delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  const standIn = new Module(file, module);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = new Proxy(
    {},
    {
      get: (_, k) => (esModule && k === "__esModule" && !real ? true : load()[k]),
      has: (_, k) => k in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, k) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), k);
        return d && { ...d, configurable: true };
      },
    },
  );
  require.cache[file] = standIn;
}
