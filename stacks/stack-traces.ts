/**
 * No stack trace for each resource, which nothing here reads.
 *
 * @pulumi/pulumi takes one for every resource it registers (resource.js, `Resource.callsites`:
 * `Error.stackTraceLimit` set to Infinity, then `new Error().stack`), and its program runner
 * registers source-map-support (cmd/run/index.js), which maps every frame of that trace through
 * the `.js.map` files of the program and of the SDK. The engine only keeps the result: each
 * resource's `sourcePosition` and `stackTrace` in the checkpoint (apitype.ResourceV3) and in
 * `--json` output, for Pulumi Cloud's links to source. Nothing in this project reads them, and the
 * SDK has no switch for it (3.276: no environment variable or option; `Resource.callsites` is
 * called from the Resource constructor). So the program answers that one capture with a trace of no
 * frames: the resource is registered without a position, as the SDK does when it finds none.
 * Every other stack trace (errors, logs) is formatted as before, source-mapped.
 *
 * Nor is a source-mapped trace made for each promise the SDK tracks: `debuggablePromise`
 * (runtime/debuggable.js) keeps `new Error().stack` on every promise of a resource registration,
 * an RPC or a log call, read only in the message about promises left pending at exit. That one
 * capture gets V8's own format (the compiled files' lines, no source map): mapping each frame
 * through the `.js.map` files was about a fifth of the program's CPU in a preview.
 *
 * PENGUINMAILS_RESOURCE_STACK_TRACES=1 keeps them (for a backend whose UI shows them).
 */

type Prepare = (error: Error, frames: NodeJS.CallSite[]) => unknown;

const MARK = Symbol.for("penguinmails.skipResourceStackTraces");

/** Is this the capture `Resource.callsites` makes in @pulumi/pulumi's resource.js? */
export function isResourceCallsites(frames: NodeJS.CallSite[]): boolean {
  const top = frames[0];
  return !!top && top.getFunctionName() === "callsites" && /[\\/]@pulumi[\\/]pulumi[\\/]resource\.js$/.test(top.getFileName() ?? "");
}

/** Is this the capture `debuggablePromise` makes in @pulumi/pulumi's runtime/debuggable.js? */
export function isPromiseDebugTrace(frames: NodeJS.CallSite[]): boolean {
  const top = frames[0];
  return (
    !!top &&
    top.getFunctionName() === "debuggablePromise" &&
    /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/.test(top.getFileName() ?? "")
  );
}

/** V8's own format, for when nothing else formats stack traces. */
const v8Format: Prepare = (error, frames) => [String(error), ...frames.map((f) => `    at ${f.toString()}`)].join("\n");

/** Installs the filter once per process (the program calls it first thing); env decides. */
export function skipResourceStackTraces(env: NodeJS.ProcessEnv = process.env): void {
  if (env.PENGUINMAILS_RESOURCE_STACK_TRACES === "1") return;
  const current = Error.prepareStackTrace as (Prepare & { [MARK]?: true }) | undefined;
  if (current?.[MARK]) return;
  const format: Prepare = current ?? v8Format;
  const filtered: Prepare & { [MARK]?: true } = (error, frames) =>
    isResourceCallsites(frames) ? String(error) : isPromiseDebugTrace(frames) ? v8Format(error, frames) : format(error, frames);
  filtered[MARK] = true;
  Error.prepareStackTrace = filtered as typeof Error.prepareStackTrace;
}
