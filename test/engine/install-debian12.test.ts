/**
 * Debian 12 "bookworm" is still supported: a server whose config names `image: debian-12` gets a
 * bookworm host (the SSH-host stand-in runs the suite of the image the server was bought with), and
 * the whole install works there, judged by bookworm's own tools: its apt and dpkg, Compose v1 (its
 * docker-compose package, chosen once by the packages step), Postfix's checks, iptables-restore,
 * systemd-analyze; the relay's real Postfix sends from the sending IP. (Debian 13, the default, is
 * judged the same way in mail-server.test.ts.)
 */
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { deliver, startRelay } from "../../scripts/dev/relay-harness";
import { judgeInstall } from "./install-judge";

const KEY = "sim-key-debian12-0123456789";
const CF_TOKEN = "sim-cf-token-debian12-0123456789";
const ZONE = "acme-twelve.com";
const unavailable = SshHostSim.unavailableReason();
if (unavailable) console.warn(`Debian 12 install test skipped: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;

jest.setTimeout(10 * 60_000);

maybe("the install on Debian 12", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let hosts: SshHostSim;
  let stack: Stack;
  const tenant = {
    id: "acme",
    tier: "starter",
    monthlyBudgetUsd: 35,
    zone: ZONE,
    domains: [{ name: ZONE }],
    servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: "debian-12" }],
  };

  beforeAll(async () => {
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `debian12-${process.pid}`) });
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 200, hosts }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: [ZONE] } }).start();
    cf.addZone(ZONE);
    stack = await localStack(`debian12-${process.pid}`, programDir("debian12", "stacks", "penguinmails-infra"), { backend: "debian12" });
    await stack.setAllConfig({ ...sim.stackConfig(KEY), ...cf.stackConfig(CF_TOKEN), tenant: { value: JSON.stringify(tenant) } });
  });
  afterAll(async () => {
    await stack?.destroy().catch(() => undefined);
    await stack?.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await hosts?.stop();
    await sim?.stop();
    await cf?.stop();
  });

  test("up installs MailU, the relay and the firewall on bookworm with Compose v1, each file judged by bookworm's tools", async () => {
    const r = await stack.up();
    const server = (r.outputs.servers.value as Array<{ mainIp: string }>)[0];
    const [sendingIp] = r.outputs.sendingIps.value as string[];
    const ip = server.mainIp;
    expect(await judgeInstall(hosts, ip)).toEqual({
      debian: "12",
      compose: "docker-compose",
      packages: ["docker-compose", "docker.io", "ifupdown", "iptables", "postfix"].map((p) => `${p} install ok installed`),
      composeConfig: "0",
      postfix: "0 postfix-ok",
      firewall: "0 1",
      units: "0 units-ok",
      versionProbes: 0,
    });
    // Every Compose call went to Compose v1; none asked `docker compose` first.
    expect(hosts.calls(ip, "docker")).toEqual([]);
    expect(hosts.calls(ip, "docker-compose").map((c) => (c.args[0] === "-p" ? c.args[2] : c.args[0]))).toEqual(
      expect.arrayContaining(["config", "up"]),
    );
    const running = hosts.state<{ services: Record<string, { running: boolean }> }>(ip, "compose-mailu")!.services;
    expect(Object.values(running).every((s) => s.running)).toBe(true);
    // The relay's real Postfix sends the domain's mail from the sending IP.
    await startRelay(hosts, ip);
    expect((await deliver(hosts, ip, [`hello@${ZONE}`])).map((d) => d.addr)).toEqual([sendingIp]);

    // A second up runs nothing on the server.
    const execs = hosts.execs.length;
    const again = await stack.up();
    expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
    expect(hosts.execs.length).toBe(execs);
  });
});
