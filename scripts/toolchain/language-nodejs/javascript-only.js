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
// 6. A policy pack in JavaScript does not need the SDK's runtime at all, yet its runner loads most of
//    it: cmd/run-policy-pack/run.js requires the SDK's log, settings, errors, manifest and
//    TypeScript utilities at its top, and @pulumi/policy's deserialize.js requires
//    `@pulumi/pulumi` (the whole runtime) and runtime/rpc.js for a few protocol constants and the
//    asset classes. For a pack (a) run.js's cache entry is a stand-in whose run() does what the
//    SDK's does for a JavaScript pack (`runJavaScriptPack` below), (b) the SDK's index loads on
//    first use (an asset or archive among a resource's properties, a remediation's Output check),
//    (c) runtime/rpc.js answers its protocol constants and loads the real module for anything
//    else, and (d) source-map-support's register is empty: the pack is compiled without source
//    maps, so it mapped nothing but the SDK's own frames. The pack's process loads 197 modules
//    instead of 367, and takes 0.36 s of CPU to load and listen instead of 0.52 s (quiet machine).
// 7. No stack trace for each resource, which nothing here reads. @pulumi/pulumi takes one for every
//    resource it registers (resource.js `Resource.callsites`: `Error.stackTraceLimit` set to
//    Infinity, then `new Error().stack`), and the program runner registers source-map-support
//    (cmd/run/index.js), which maps every frame through the `.js.map` files of the program and the
//    SDK. The engine only keeps the result: each resource's `sourcePosition` and `stackTrace` in the
//    checkpoint (apitype.ResourceV3) and in `--json` output, for Pulumi Cloud's links to source.
//    The SDK has no switch for it (3.276: no environment variable or option), so that capture is
//    answered with a trace of no frames: the resource is registered without a position, as the SDK
//    does when it finds none. Nor is a trace formatted for each promise the SDK tracks:
//    `debuggablePromise` (runtime/debuggable.js) keeps `new Error().stack` on every promise of a
//    registration, an RPC or a log call, read only in the message about promises left pending at
//    exit (`${p._debugStackTrace}`); it gets V8's own format (no source map), made when that message
//    is. Every other stack trace (errors, logs) is formatted as before, source-mapped. In the program
//    runner it is installed here, before the SDK registers the root stack (the program itself is
//    loaded only inside it), on top of source-map-support, which is registered first for it; an
//    engine worker installs it before it runs a program inline (scripts/lib/stacks/inline.ts).
//    PENGUINMAILS_RESOURCE_STACK_TRACES=1 keeps them (for a backend whose UI shows them).
// 8. The SDK's runtime loads its closure packager's code paths (runtime/closure/codePaths.js, with
//    normalize-package-data, its SPDX tables and upath; ~20 ms of CPU) only to re-export
//    `computeCodePaths`, which a program calls when it packages a function's dependencies: it loads
//    on that first call.
// 9. zod 4 requires all of its ~45 translations as it loads (classic/external.cjs and
//    core/index.cjs: `exports.locales = __importStar(require("../locales/index.cjs"))`) only to
//    re-export them as `z.locales`; its messages come from locales/en.cjs, which its schemas require
//    themselves. The translations' module loads on first use (~35 ms of CPU in each process that
//    loads zod: the program and this project's dynamic-provider host, which the shim starts with
//    this file too). zod is resolved from the entry point, as the project's own modules resolve it.
// Everything else (error handling, exit codes, V8 flags, loading the program) is the SDK's.
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");

const entry = process.argv[1] || "";
const cmd = /[\\/]@pulumi[\\/]pulumi[\\/]cmd[\\/]([a-z-]+)(?:[\\/]index(?:\.js)?)?$/.exec(entry);
// 9. zod's translations, loaded on first use (in the engine's processes, not wherever this file is required).
const providerHost = /[\\/]dist[\\/]providers[\\/]lib[\\/]dynamic-provider-host\.js$/.test(entry);
const zodLocales = (cmd || providerHost) && resolveFrom(entry, "zod/v4/locales");
if (zodLocales) lazyModule(zodLocales, true);

if (cmd) {
  const sdk = path.resolve(path.dirname(entry.endsWith(".js") ? entry : path.join(entry, "index.js")), "..", "..");

  if (cmd[1] === "run-policy-pack") javascriptPack(sdk);
  if (cmd[1] === "run") {
    // 7. source-map-support as the runner registers it (the same module), then the filter over it.
    const register = sdkResolve(sdk, "source-map-support/register");
    if (register) require(register);
    skipResourceStackTraces(process.env);
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
    standIn(tracing, {
      start: (url) => load().start(url),
      stop: () => load().stop(),
      // The API as the SDK resolves it (this file sits in the toolchain's folder, not the project's).
      newSpan: (name) =>
        real ? real.newSpan(name) : Module.createRequire(tracing)("@opentelemetry/api").trace.getTracer("nodejs-runtime").startSpan(name),
    });
  }

  // 2. TypeScript, loaded on first use.
  lazyModule(path.join(sdk, "typescript-shim.js"), false);
  // 5. The Automation API, loaded on first use.
  lazyModule(path.join(sdk, "automation", "index.js"), true);
  // 8. The closure packager's code paths, loaded on the first call.
  lazyModule(path.join(sdk, "runtime", "closure", "codePaths.js"), true, {}, ["computeCodePaths"]);
}

/** `request` as the SDK's own modules resolve it, or undefined. */
function sdkResolve(sdk, request) {
  return resolveFrom(path.join(sdk, "package.json"), request);
}

/** `request` as a module at `file` resolves it, or undefined (none given, or not installed). */
function resolveFrom(file, request) {
  if (!file) return undefined;
  try {
    return Module.createRequire(path.resolve(file)).resolve(request);
  } catch {
    return undefined;
  }
}

/** Is this the capture `Resource.callsites` makes in @pulumi/pulumi's resource.js? */
function isResourceCallsites(frames) {
  const top = frames[0];
  return !!top && top.getFunctionName() === "callsites" && /[\\/]@pulumi[\\/]pulumi[\\/]resource\.js$/.test(top.getFileName() || "");
}

/** Is this the capture `debuggablePromise` makes in @pulumi/pulumi's runtime/debuggable.js? */
function isPromiseDebugTrace(frames) {
  const top = frames[0];
  return (
    !!top &&
    top.getFunctionName() === "debuggablePromise" &&
    /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/.test(top.getFileName() || "")
  );
}

/** V8's own format, for when nothing else formats stack traces. */
function v8Format(error, frames) {
  return [String(error), ...frames.map((f) => `    at ${f.toString()}`)].join("\n");
}

/** V8's format of a tracked promise's trace, made when something turns it into a string. */
function promiseTrace(error, frames) {
  let text;
  return {
    toString() {
      if (text === undefined) text = v8Format(error, frames);
      return text;
    },
  };
}

/**
 * 7. Installs the filter over the current formatter (V8's format when there is none), once per
 * process (a function, not a constant, as the file's first lines already call it); `env` decides.
 */
function skipResourceStackTraces(env) {
  if (env.PENGUINMAILS_RESOURCE_STACK_TRACES === "1") return;
  const mark = Symbol.for("penguinmails.skipResourceStackTraces");
  const current = Error.prepareStackTrace;
  if (current && current[mark]) return;
  const format = current || v8Format;
  const filtered = (error, frames) =>
    isResourceCallsites(frames) ? String(error) : isPromiseDebugTrace(frames) ? promiseTrace(error, frames) : format(error, frames);
  filtered[mark] = true;
  Error.prepareStackTrace = filtered;
}

module.exports = { skipResourceStackTraces };

/**
 * Makes the cache entry of `file` a stand-in that loads the real module on first use (any property
 * read), so a process that never uses it never loads it, and one that does gets the same module.
 * `esModule`: the real module is compiled TypeScript (`exports.__esModule`), answered without
 * loading it so that `__importStar(require(file))` keeps the stand-in itself. `known`: values the
 * real module exports that are answered without loading it (constants only). `calls`: functions it
 * exports that a module copies while it loads (`exports.f = m.f`): each is answered with one that
 * loads the real module when called and calls its own.
 */
function lazyModule(file, esModule, known = {}, calls = []) {
  if (!fs.existsSync(file) || require.cache[file]) return;
  let real;
  const load = () => {
    if (!real) {
      delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  standIn(
    file,
    new Proxy(
      {},
      {
        get: (_, k) =>
          real
            ? real[k]
            : esModule && k === "__esModule"
              ? true
              : Object.hasOwn(known, k)
                ? known[k]
                : calls.includes(k)
                  ? (...args) => load()[k](...args)
                  : load()[k],
        has: (_, k) => k in load(),
        ownKeys: () => Reflect.ownKeys(load()),
        getOwnPropertyDescriptor: (_, k) => {
          const d = Reflect.getOwnPropertyDescriptor(load(), k);
          return d && { ...d, configurable: true };
        },
      },
    ),
  );
}

/** A module's cache entry made `exports` without loading the file (`file` must exist). */
function standIn(file, exports) {
  const m = new Module(file, module);
  m.filename = file;
  m.loaded = true;
  m.exports = exports;
  require.cache[file] = m;
}

/** 6. The stand-ins of a policy pack's process (see the top of the file). */
function javascriptPack(sdk) {
  const sdkFile = (...p) => path.join(sdk, ...p);
  const run = sdkFile("cmd", "run-policy-pack", "run.js");
  const rpc = sdkFile("runtime", "rpc.js");
  const register = sdkResolve(sdk, "source-map-support/register");
  if (!fs.existsSync(run) || !fs.existsSync(rpc) || require.cache[run]) return;
  standIn(run, { __esModule: true, run: (opts) => runJavaScriptPack(sdk, opts) });
  if (register && !require.cache[register]) standIn(register, {});
  lazyModule(sdkFile("index.js"), true);
  // The wire's markers, as runtime/rpc.js (@pulumi/pulumi 3.276) exports them; anything else loads it.
  const markers = {
    unknownValue: "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    specialSigKey: "4dabf18193072939515e22adb298388d",
    specialAssetSig: "c44067f5952c0a294b673a41bacd8c17",
    specialArchiveSig: "0def7320c3a5731c473e5ecbe6d01bc7",
    specialSecretSig: "1b47061264138c4ac30d75fd1eb44270",
    specialResourceSig: "5cf8f73096256a8f31e491e813e4eb8e",
    specialOutputValueSig: "d0e6a833031e9bbcd3f4e8bde6ca49a4",
  };
  lazyModule(rpc, true, markers);
}

/**
 * cmd/run-policy-pack/run.js's run() for a pack in JavaScript (`typeScript` is never on here),
 * loading nothing of the SDK until an error is reported: `--pwd`, the pack's path against the
 * working folder, the pack's own argv, the same messages for an uncaught error or rejection (through
 * the SDK's own log, errors and error-message modules, loaded then) and reportLoggedError, the
 * engine connections closed at exit when the SDK's settings were loaded, then the pack required
 * (and called and awaited when it exports a function). A pack whose main file is missing gets a
 * message naming it and the build to run, and the SDK's exit code for a reported error (32).
 */
function runJavaScriptPack(sdk, opts) {
  const pwd = opts.argv.pwd;
  if (pwd) process.chdir(pwd);
  let program = opts.argv._[0];
  if (!path.isAbsolute(program)) program = path.join(process.cwd(), program);
  process.argv = [process.argv[0], process.argv[1], ...opts.argv._.slice(1)];

  const seen = new Set();
  const report = (err) => {
    if (seen.has(err)) return;
    seen.add(err);
    const sdkRequire = (...p) => require(path.join(sdk, ...p));
    const log = sdkRequire("log");
    const { RunError, ResourceError } = sdkRequire("errors");
    const message = sdkRequire("cmd", "run", "error").defaultErrorMessage(err);
    if (RunError.isInstance(err)) log.error(err.message);
    else if (err && (err.name === "TSError" || err.name === SyntaxError.name)) {
      // The location is in the message: the stack's frames are left out.
      const parts = String(err.stack || "").split(err.message);
      log.error(
        `Running program '${program}' failed with an unhandled exception:\n${parts.length === 2 ? parts[0] + err.message : err.message}`,
      );
    } else if (ResourceError.isInstance(err)) log.error(err.hideStack ? err.message : message, err.resource);
    else log.error(`Running program '${program}' failed with an unhandled exception:\n    ${message}`);
    opts.reportLoggedError(err);
  };
  process.on("uncaughtException", report);
  process.on("unhandledRejection", report);
  process.on("exit", () => {
    const settings = require.cache[path.join(sdk, "runtime", "settings.js")];
    if (settings) settings.exports.disconnectSync();
  });
  opts.programStarted();

  return (async () => {
    try {
      const exported = require(program);
      return await (exported instanceof Function ? exported() : exported);
    } catch (e) {
      if (e instanceof Error && e.code === "MODULE_NOT_FOUND" && missingEntry(program, e)) process.exit(32);
      throw e;
    }
  })();
}

/**
 * When `err` is about the pack's own entry (the folder, or the main file its package.json names:
 * Node's message names that file), not a module it imports, says so on stderr.
 */
function missingEntry(program, err) {
  const m = /Cannot find module '(.*?)'/.exec(err.message);
  let main = "index.js";
  try {
    main = JSON.parse(fs.readFileSync(path.join(program, "package.json"), "utf8")).main || main;
  } catch {
    // no package.json: Node looked for index.js
  }
  const entry = path.resolve(program, main);
  if (!m || (m[1] !== program && path.resolve(m[1]) !== entry)) return false;
  console.error(`The policy pack's main file ${entry} does not exist: build the pack first (in this project, \`npm run build\`).`);
  return true;
}
