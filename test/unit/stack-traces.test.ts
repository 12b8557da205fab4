/**
 * Programs register resources without a stack trace (scripts/toolchain/language-nodejs/javascript-only.js,
 * item 7): the capture @pulumi/pulumi's `Resource.callsites` makes comes back with no frames, the
 * one `debuggablePromise` keeps is V8's format made when read, and every other stack trace is
 * formatted by whatever formatted it before (source-map-support in the engine's program runner).
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";

const { skipResourceStackTraces } = require(path.join(projectRoot, "scripts", "toolchain", "language-nodejs", "javascript-only.js")) as {
  skipResourceStackTraces(env: NodeJS.ProcessEnv): void;
};

const callsites = () => (pulumi.Resource as unknown as { callsites(): Array<{ file?: string }> }).callsites();

describe("resource stack traces", () => {
  const before = Error.prepareStackTrace;
  afterEach(() => {
    if (before) Error.prepareStackTrace = before;
    else delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
  });

  test("the SDK's capture has frames, then none once skipped; other traces keep the formatter they had", () => {
    const formatter = jest.fn((error: Error, frames: NodeJS.CallSite[]) =>
      [`${String(error)} [mapped]`, ...frames.map((f) => `    at ${f.toString()}`)].join("\n"),
    );
    Error.prepareStackTrace = formatter;
    expect(callsites().some((f) => f.file)).toBe(true);
    skipResourceStackTraces({});
    skipResourceStackTraces({}); // once per process, however often the program is called
    formatter.mockClear();
    expect(callsites()).toEqual([]);
    expect(formatter).not.toHaveBeenCalled();
    expect(new Error("boom").stack).toMatch(/^Error: boom \[mapped\]\n {4}at /);
    expect(formatter).toHaveBeenCalledTimes(1);
  });

  test("the trace the SDK keeps on each tracked promise is V8's format, not the formatter's", async () => {
    const { debuggablePromise, promiseDebugString } = require("@pulumi/pulumi/runtime/debuggable") as {
      debuggablePromise: <T>(p: Promise<T>, ctx: string) => Promise<T>;
      promiseDebugString(p: Promise<unknown>): string;
    };
    const formatter = jest.fn((error: Error) => `${String(error)} [mapped]`);
    Error.prepareStackTrace = formatter;
    skipResourceStackTraces({});
    const tracked = Promise.resolve(1);
    await debuggablePromise(tracked, "test");
    // Formatted only when the SDK's message about a promise left pending reads it.
    expect(formatter).not.toHaveBeenCalled();
    const message = promiseDebugString(tracked);
    expect(promiseDebugString(tracked)).toBe(message);
    expect(message).toMatch(
      /\nSTACK_TRACE:\nError\n {4}at debuggablePromise \(.*[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js:\d+:\d+\)/,
    );
    expect(formatter).not.toHaveBeenCalled();
    expect(new Error("boom").stack).toBe("Error: boom [mapped]");
  });

  test("with no formatter installed, other traces are V8's format", () => {
    delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    skipResourceStackTraces({});
    expect(callsites()).toEqual([]);
    expect(new Error("boom").stack).toMatch(/^Error: boom\n {4}at .*stack-traces\.test\.ts:\d+:\d+/);
  });

  test("PENGUINMAILS_RESOURCE_STACK_TRACES=1 keeps them", () => {
    delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    skipResourceStackTraces({ PENGUINMAILS_RESOURCE_STACK_TRACES: "1" });
    expect(Error.prepareStackTrace).toBeUndefined();
    expect(callsites().some((f) => f.file)).toBe(true);
  });
});
