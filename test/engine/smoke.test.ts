/**
 * Smoke test of the toolchain through the real engine: a program with one
 * dynamic resource and one random.RandomPassword, on the local file backend.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CLI_LOGS_OFF, devDir, engineEnv, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";

describe("engine smoke test", () => {
  test("up gives the outputs, preview shows no changes, destroy empties the stack", async () => {
    const dir = programDir("smoke", "test/fixtures/smoke");
    const stack = await localStack(`smoke-${process.pid}`, dir, { backend: "smoke" });
    try {
      await stack.setConfig("who", { value: "penguin" });
      const up = await stack.up();
      expect(up.summary.result).toBe("succeeded");
      expect(up.outputs.message.value).toBe("hello, penguin");
      expect(up.outputs.passwordLength.value).toBe(24);
      expect(up.outputs.password.secret).toBe(true);
      // The program runs on Node 22 or newer (the toolchain's Node where the machine's is older).
      expect(Number(/^v(\d+)\./.exec(up.outputs.nodeVersion.value)?.[1])).toBeGreaterThanOrEqual(22);

      const state = await stack.exportStack();
      const types = state.deployment.resources.map((r: { type: string }) => r.type);
      expect(types).toEqual(expect.arrayContaining(["pulumi-nodejs:dynamic/smoke:Greeting", "random:index/randomPassword:RandomPassword"]));
      // No stack trace per resource, the root stack's included (the language host's preload, item 7).
      const positioned = state.deployment.resources.filter((r: { sourcePosition?: string }) => r.sourcePosition);
      expect(positioned.map((r: { urn: string }) => r.urn)).toEqual([]);
      // On disk the generated password is ciphertext (exportStack itself shows plaintext).
      const stateFile = path.join(devDir, "backends", "smoke", ".pulumi", "stacks", "smoke", `${stack.name}.json`);
      const onDisk = fs.readFileSync(stateFile, "utf8");
      expect(onDisk).toContain("random:index/randomPassword:RandomPassword");
      expect(onDisk).not.toContain(up.outputs.password.value);

      const preview = await stack.preview({ expectNoChanges: true });
      expect(preview.changeSummary).toEqual({ same: 3 });

      await stack.destroy();
      const after = await stack.exportStack();
      expect(after.deployment.resources ?? []).toHaveLength(0);
    } finally {
      await stack.workspace.removeStack(stack.name, { force: true });
    }
  });

  test("the CLI's automatic log: off in the engine's PULUMI_HOME (the CLI runs on without it), on again with PENGUINMAILS_CLI_LOGS=1", () => {
    const home = path.join(devDir, "work", `cli-logs-home-${process.pid}`);
    const logs = path.join(home, "logs");
    const pulumi = (env: Record<string, string>) => spawnSync("pulumi", ["whoami"], { env: { ...process.env, ...env }, encoding: "utf8" });
    try {
      const off = pulumi(engineEnv({ backend: "smoke", home }));
      expect(off.status).toBe(0);
      expect(fs.readFileSync(logs, "utf8")).toBe(CLI_LOGS_OFF);

      process.env.PENGUINMAILS_CLI_LOGS = "1";
      const on = pulumi(engineEnv({ backend: "smoke", home }));
      expect(on.status).toBe(0);
      // The premise: the real CLI writes one log file a command when it can make the folder.
      expect(fs.readdirSync(logs).filter((f) => f.endsWith(".log")).length).toBeGreaterThan(0);

      delete process.env.PENGUINMAILS_CLI_LOGS;
      engineEnv({ backend: "smoke", home });
      expect(fs.readFileSync(logs, "utf8")).toBe(CLI_LOGS_OFF);
    } finally {
      delete process.env.PENGUINMAILS_CLI_LOGS;
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
