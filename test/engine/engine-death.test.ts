/**
 * A CLI killed in the middle of an `up` (SIGKILL: no chance to stop its plugins) must take its
 * children with it: the language host, the program it runs and the dynamic-provider process exit
 * within seconds, and the Hostwinds stand-in sees no call from them after the kill
 * (scripts/toolchain/dynamic-provider/engine-watch.js, scripts/toolchain/language-nodejs/main.go).
 */
import * as fs from "fs";
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { descendantsMatching, running } from "./harness";
import { recoverStack } from "../../scripts/cli/fleet/recover";

const KEY = "sim-key-killed-0123456789";
jest.setTimeout(5 * 60_000);

const cmdline = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
  } catch {
    return "";
  }
};

describe("children die with the engine", () => {
  let sim: HostwindsSim;
  let stack: Stack;

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 2000 }).start();
    Object.assign(process.env, { HOSTWINDS_API_KEY: KEY, HOSTWINDS_API_URL: sim.url, HOSTWINDS_REQUESTS_PER_SECOND: "0" });
  });
  afterAll(async () => {
    if (stack) await stack.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await sim.stop();
  });

  test("SIGKILL of the CLI during an up: no child survives it by seconds, no Hostwinds call after it; fleet recover, then up buys nothing twice", async () => {
    stack = await localStack(`killed-${process.pid}`, programDir("engine-death", "test/fixtures/hostwinds"), { backend: "engine-death" });
    await stack.setAllConfig({ ...sim.stackConfig(KEY), tenant: { value: "killed" }, ipCount: { value: "3" } });

    let killedAt = 0;
    let children: number[] = [];
    let names: string[] = [];
    const after: Array<{ action: string; at: number }> = [];
    sim.onRequest = (action) => {
      if (killedAt) {
        after.push({ action, at: Date.now() });
        return;
      }
      // The first IP purchase is sent: the provider now waits for the IP, with two more to buy.
      if (action !== "add_ip") return;
      const [cli] = descendantsMatching(process.pid, "\0up\0");
      if (!cli) return;
      children = descendantsMatching(cli, "").filter((p) => /language-nodejs|dynamic-provider|cmd\/run/.test(cmdline(p)));
      names = children.map(cmdline);
      process.kill(cli, "SIGKILL");
      killedAt = Date.now();
    };
    await expect(stack.up()).rejects.toThrow();
    expect(killedAt).toBeGreaterThan(0);
    expect(names.some((c) => c.includes("language-nodejs"))).toBe(true);
    expect(names.some((c) => c.includes("dynamic-provider"))).toBe(true);

    // "Promptly": every child gone as soon as it is (they take milliseconds), within 60 s on the busiest machine;
    // the time it took is printed below.
    let alive = children.filter(running);
    while (alive.length && Date.now() - killedAt < 60_000) {
      await new Promise((r) => setTimeout(r, 50));
      alive = children.filter(running);
    }
    const goneAt = Date.now();
    // Wait as long as the IP takes to arrive and then some: an orphaned provider would poll and buy the next IP.
    await new Promise((r) => setTimeout(r, 3000));
    const calls = after.map((c) => `${c.action} +${c.at - killedAt} ms`).join(", ") || "none";
    console.log(
      `engine-death: ${children.length} children, all gone ${goneAt - killedAt} ms after the kill; calls handled after it: ${calls}`,
    );
    expect(alive.map(cmdline)).toEqual([]);
    // A request already on the wire at the kill may still be handled; nothing is sent once the children are gone,
    // and nothing after the kill buys or releases.
    expect(after.filter((c) => c.at > goneAt)).toEqual([]);
    expect(sim.ledger(KEY).filter((e) => Date.parse(e.at) > killedAt)).toEqual([]);
    expect(sim.ledger(KEY).filter((e) => e.kind === "ip")).toHaveLength(1);

    // The documented recovery: fleet recover reconciles the lock and the pending creates with the
    // account, then the next up finishes the job buying nothing twice: 1 server and 3 IPs in all.
    const logs: string[] = [];
    const r = await recoverStack(stack, { log: (l) => logs.push(l) });
    expect(r.lock).toMatch(/locked by .* \(no longer running\)/);
    expect(r.cleared).toBe(true);
    expect(r.pending.join("\n")).toMatch(/open IP order|unclaimed IPs|exists in the account/);
    const up = await stack.up();
    expect(up.summary.result).toBe("succeeded");
    const bought = (kind: string) => sim.ledger(KEY).filter((e) => e.kind === kind && e.event === "bought").length;
    expect([bought("server"), bought("ip")]).toEqual([1, 3]);
    expect(up.outputs.ips.value).toHaveLength(3);
    await stack.destroy();
  });
});
