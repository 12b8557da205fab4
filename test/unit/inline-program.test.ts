/**
 * An inline run's own gRPC clients are closed when the run is over (scripts/lib/stacks/inline.ts):
 * @pulumi/pulumi makes a resource monitor and an engine client in each run's store and its
 * disconnect closes neither, so a long-lived engine worker kept two channels (and their timers,
 * and what they reached) per tenant. The SDK's getMonitor/getEngine stand in here: no engine runs.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { tenantProgram, withProgramEnv } from "../../scripts/lib/stacks/inline";
import { workDirFor } from "../../scripts/lib/engine/pulumi-env";

describe("the inline program's run clients", () => {
  const root = workDirFor(`inline-clients-${process.pid}`);
  const project = { root, stacksDir: "stacks" };

  beforeAll(() => {
    fs.writeFileSync(path.join(root, "Pulumi.yaml"), "name: inline-clients\nruntime: nodejs\nmain: program.js\n");
    fs.writeFileSync(path.join(root, "program.js"), "module.exports = async () => ({ ran: true });\n");
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  afterEach(() => jest.restoreAllMocks());

  /** Fresh stand-ins for one run's monitor and engine clients. */
  const clients = () => {
    const monitor = { close: jest.fn() };
    const engine = { close: jest.fn() };
    jest.spyOn(pulumi.runtime, "getMonitor").mockReturnValue(monitor as unknown as ReturnType<typeof pulumi.runtime.getMonitor>);
    jest.spyOn(pulumi.runtime, "getEngine").mockReturnValue(engine as unknown as ReturnType<typeof pulumi.runtime.getEngine>);
    return { monitor, engine };
  };

  test("open while the run lasts, closed once it is over; the next run closes its own", async () => {
    const program = tenantProgram(project);
    const first = clients();
    const outputs = await withProgramEnv("t1", {}, root, async () => {
      const out = await program();
      expect(first.monitor.close).not.toHaveBeenCalled();
      expect(first.engine.close).not.toHaveBeenCalled();
      return out;
    });
    expect(outputs).toEqual({ ran: true });
    expect(first.monitor.close).toHaveBeenCalledTimes(1);
    expect(first.engine.close).toHaveBeenCalledTimes(1);

    const second = clients();
    await withProgramEnv("t2", {}, root, () => program());
    expect(second.monitor.close).toHaveBeenCalledTimes(1);
    expect(second.engine.close).toHaveBeenCalledTimes(1);
    expect(first.monitor.close).toHaveBeenCalledTimes(1);
  });

  test("closed when the run fails too", async () => {
    const program = tenantProgram(project);
    const { monitor, engine } = clients();
    await expect(
      withProgramEnv("t3", {}, root, async () => {
        await program();
        throw new Error("the CLI failed");
      }),
    ).rejects.toThrow("the CLI failed");
    expect(monitor.close).toHaveBeenCalledTimes(1);
    expect(engine.close).toHaveBeenCalledTimes(1);
  });
});
