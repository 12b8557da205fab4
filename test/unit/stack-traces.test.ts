/**
 * The program registers resources without a stack trace (stacks/stack-traces.ts): the capture
 * @pulumi/pulumi's `Resource.callsites` makes comes back with no frames, every other stack trace is
 * formatted by whatever formatted it before (source-map-support in the engine's program runner).
 */
import * as pulumi from "@pulumi/pulumi";
import { skipResourceStackTraces } from "../../stacks/stack-traces";

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
    const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable") as {
      debuggablePromise: <T>(p: Promise<T>, ctx: string) => Promise<T>;
    };
    const formatter = jest.fn((error: Error) => `${String(error)} [mapped]`);
    Error.prepareStackTrace = formatter;
    skipResourceStackTraces({});
    const tracked = Promise.resolve(1);
    await debuggablePromise(tracked, "test");
    const trace = (tracked as unknown as { _debugStackTrace: string })._debugStackTrace;
    expect(trace).toMatch(/^Error\n {4}at debuggablePromise \(.*[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js:\d+:\d+\)/);
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
