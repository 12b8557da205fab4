/**
 * The whole mail server through the real engine: the tenant program buys a
 * server and its sending IPs (Hostwinds stand-in), publishes the domains'
 * records (Cloudflare stand-in) and installs MailU over real SSH on the host
 * behind the server's main IP (SSH-host stand-in: a clean Debian system in
 * its own namespaces, where apt-get, dpkg, iproute2, ifupdown, iptables,
 * Compose's validation and Postfix are the real ones). Then a real Postfix,
 * configured by exactly the files the install wrote, delivers to a sink in
 * the host's network namespace: each domain leaves from its IP with a HELO
 * equal to that IP's PTR (asked of the DNS stand-in), never from the main IP,
 * and no IP sends more than its warm-up volume of the day.
 */
import * as path from "path";
import { createHash } from "crypto";
import { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { ENGINE_TEST_CEILING_MS, readAll } from "./harness";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { DnsSim } from "../../scripts/dev/standins/dns";
import { deliver, identityProblems, relayQueueWhen, sendMany, sinkSeen, startRelay } from "../../scripts/dev/relay-harness";
import { judgeInstall } from "./install-judge";
import { SUBMISSION_PACKAGES, judge, routedIp, startSubmission, submitAndReceive } from "../../scripts/dev/mailu-submission";
import { COMMAND_TYPE } from "../../providers/ssh";
import { DNS_RECORD_TYPE } from "../../providers/cloudflare";

const KEY = "sim-key-mailserver-0123456789";
const CF_TOKEN = "sim-cf-token-mailserver-0123456789";
const ZONE = "acme-mail.com";
const NEWS = `news.${ZONE}`;
const SENDERS = [`hello@${ZONE}`, `team@${NEWS}`];
const unavailable = SshHostSim.unavailableReason();
if (unavailable) console.warn(`mail-server engine tests skipped: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;

jest.setTimeout(ENGINE_TEST_CEILING_MS);

/** A secret in exportStack()'s deployment: decrypted, still wrapped in its signature object. */
const plain = (v: unknown): string => {
  const o = v as { plaintext?: string };
  return typeof v === "object" && v !== null && typeof o.plaintext === "string" ? (JSON.parse(o.plaintext) as string) : (v as string);
};

interface ComposeState {
  services: Record<string, { running: boolean; restarts: number }>;
  domains: string[];
  users: Record<string, unknown>;
  aliases?: Record<string, string[]>;
}

maybe("a tenant's mail server: server, IPs, DNS and MailU over SSH", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let hosts: SshHostSim;
  let stack: Stack;
  let dns: DnsSim;
  const dir = programDir("mail-server", "stacks", "penguinmails-infra");
  const backend = "mail-server";
  const tenant = (
    sendingIps: number,
    more: { retireIps?: string[]; standbyIps?: number; pausedIps?: string[]; domainIps?: Record<string, number> } = {},
  ) => ({
    id: "acme",
    // Growth: up to 4 IPs on a server (3 sending + 1 standby below); the program refuses more.
    tier: "growth",
    monthlyBudgetUsd: 35,
    zone: ZONE,
    domains: [{ name: ZONE }, { name: NEWS }],
    servers: [{ name: "mx1", location: 1, plan: 101, sendingIps, ...more }],
    warmup: "conservative",
  });
  const spfOf = () => cf.records(ZONE).find((p) => p.type === "TXT" && p.name === ZONE)!.content;
  /** The addresses the relay's transports bind to (master.cf on the host), and the IPs on its NIC (the kernel's view). */
  const relayBinds = () => [...(hosts.file(ip, "/etc/postfix/master.cf") ?? "").matchAll(/smtp_bind_address=(\S+)/g)].map((m) => m[1]);
  const nicIps = async () =>
    (await hosts.run(ip, `ip -4 -o addr show dev ${hosts.nic} | awk '{ print $4 }'`)).stdout
      .split("\n")
      .filter((a) => a && a !== `${ip}/32`);
  const identity = async (expected?: Record<string, string>) =>
    identityProblems(await deliver(hosts, ip, SENDERS), { dnsServer: dns.address, mainIp: ip, expected });

  /** Runs `up`, returning its result and the engine's events (to see what ran, in which order). */
  async function up(): Promise<{
    events: EngineEvent[];
    stdout: string;
    outputs: Record<string, { value: unknown }>;
    changes: Record<string, number>;
  }> {
    const events: EngineEvent[] = [];
    const r = await stack.up({ onEvent: (e) => events.push(e) });
    return { events, stdout: r.stdout, outputs: r.outputs, changes: r.summary.resourceChanges ?? {} };
  }
  const updatedCommands = (events: EngineEvent[]) =>
    events
      .filter((e) => e.resOutputsEvent && e.resOutputsEvent.metadata.type === COMMAND_TYPE && e.resOutputsEvent.metadata.op === "update")
      .map((e) => e.resOutputsEvent!.metadata.urn.split("::").pop());

  beforeAll(async () => {
    // The submission proof's rspamd, Dovecot and swaks come with the host's image (a cached root filesystem),
    // not from apt at every run; the install still installs its own packages (Postfix, Docker) with apt.
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `mail-server-${process.pid}`), packages: SUBMISSION_PACKAGES });
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 200, hosts }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: [ZONE] } }).start();
    cf.addZone(ZONE);
    dns = await new DnsSim({ records: () => cf.allRecords(), ptr: (x) => sim.ptr(x) }).start();
    stack = await localStack(`acme-${process.pid}`, dir, { backend });
    await stack.setAllConfig({ ...sim.stackConfig(KEY), ...cf.stackConfig(CF_TOKEN), tenant: { value: JSON.stringify(tenant(2)) } });
  });
  afterAll(async () => {
    await stack?.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await hosts?.stop();
    await sim?.stop();
    await cf?.stop();
    await dns?.stop();
  });

  let ip = "";
  /** The sending IP the explicit domain map chose for both domains. */
  let mapped = "";

  test("up buys the server and 2 IPs, publishes the records, then installs MailU once they exist; secrets stay secret", async () => {
    const r = await up();
    const server = (
      r.outputs.servers.value as Array<{ mainIp: string; mailu: { version: string; postmaster: string; postmasterPassword: string } }>
    )[0];
    ip = server.mainIp;
    expect(hosts.addresses()).toEqual([ip]);
    expect(server.mailu).toMatchObject({ version: "2024.06.57", postmaster: `admin@${ZONE}` });
    const sendingIps = r.outputs.sendingIps.value as string[];

    // What is on the server: the files, the containers, the domain and postmaster, the IPs and outbound rules.
    const env = hosts.file(ip, "/mailu/mailu.env")!;
    expect(env).toContain(
      `HOSTNAMES=mx1.${ZONE},${[ZONE, NEWS].flatMap((d) => [`autoconfig.${d}`, `autodiscover.${d}`, `mta-sts.${d}`]).join(",")}\n`,
    );
    expect(env).toContain("TLS_FLAVOR=letsencrypt\n");
    const state = await stack.exportStack();
    const outputsOf = (type: string) =>
      state.deployment.resources
        .filter((x: { type: string }) => x.type === type)
        .map((x: { outputs: Record<string, unknown> }) => x.outputs);
    const dkimPem = plain(
      outputsOf("pulumi-nodejs:dynamic/penguinmails:DkimKey").find((k: Record<string, unknown>) => k.domain === ZONE)!.privateKeyPem,
    );
    expect(hosts.file(ip, `/mailu/dkim/${ZONE}.pm1.key`)).toBe(dkimPem);
    const compose = hosts.state<ComposeState>(ip, "compose-mailu")!;
    expect(
      Object.entries(compose.services)
        .filter(([, s]) => s.running)
        .map(([n]) => n)
        .sort(),
    ).toEqual(["admin", "antispam", "front", "imap", "redis", "resolver", "smtp"]);
    expect(compose.domains).toEqual([ZONE, NEWS]);
    expect(Object.keys(compose.users)).toEqual([`admin@${ZONE}`]);
    // DMARC and TLS-RPT reports have somewhere to go: aliases to the postmaster.
    expect(Object.keys(compose.aliases ?? {}).sort()).toEqual(
      [ZONE, NEWS].flatMap((d) => [`dmarc-reports@${d}`, `tls-reports@${d}`]).sort(),
    );
    expect(env).toContain("PORTS=25,80,443,465,587,993,4190\n");

    // What Debian installed (real apt-get, real dpkg), where the sending IPs are (the kernel's view), and
    // that the relay's configuration passes Postfix's own checks.
    const dpkg = await hosts.run(ip, "dpkg-query -W -f '${Package} ${Status}\\n' docker.io docker-compose postfix iptables ifupdown");
    expect(dpkg.stdout.trim().split("\n").sort()).toEqual(
      ["docker-compose", "docker.io", "ifupdown", "iptables", "postfix"].map((p) => `${p} install ok installed`),
    );
    expect((await nicIps()).sort()).toEqual(sendingIps.map((x) => `${x}/32`).sort());
    expect(hosts.file(ip, "/etc/network/interfaces.d/60-penguinmails")).toContain(`iface ${hosts.nic} inet static`);
    expect((await hosts.run(ip, "postconf -n >/dev/null && postfix check && echo ok")).stdout).toBe("ok\n");
    expect(relayBinds().sort()).toEqual([...sendingIps].sort());
    expect((await hosts.run(ip, "iptables -S DOCKER-USER")).stdout).toContain("-A DOCKER-USER -j PM-MAILU-OUT");

    // Debian 13, the default image: its Compose v2 chosen once, and each file judged by this suite's own tools.
    expect(await judgeInstall(hosts, ip)).toEqual({
      debian: "13",
      compose: "docker compose",
      packages: ["docker-cli", "docker-compose", "docker.io", "ifupdown", "iptables", "postfix"].map((p) => `${p} install ok installed`),
      composeConfig: "0",
      postfix: "0 postfix-ok",
      firewall: "0 1",
      units: "0 units-ok",
      versionProbes: 0,
    });
    expect(hosts.calls(ip, "docker").some((c) => c.args[0] === "compose")).toBe(true);
    expect(hosts.calls(ip, "docker-compose")).toEqual([]);

    // MailU (TLS_FLAVOR=letsencrypt) starts only after every A record exists.
    const seq = r.events
      .map((e) =>
        e.resOutputsEvent && e.resOutputsEvent.metadata.op === "create"
          ? e.resOutputsEvent.metadata
          : e.resourcePreEvent?.metadata.op === "create"
            ? { ...e.resourcePreEvent.metadata, pre: true }
            : undefined,
      )
      .filter((m): m is NonNullable<typeof m> => !!m);
    const mailuStarts = seq.findIndex((m) => "pre" in m && m.urn.endsWith("::mx1-mailu-mailu"));
    const aRecordsDone = seq
      .map((m, i) => (!("pre" in m) && m.type === DNS_RECORD_TYPE && /::a-/.test(m.urn) ? i : -1))
      .filter((i) => i >= 0);
    expect(aRecordsDone).toHaveLength(3);
    const order = (step: string) => seq.findIndex((m) => "pre" in m && m.urn.endsWith(`::mx1-mailu-${step}`));
    expect(order("packages")).toBeLessThan(order("network"));
    expect(order("network")).toBeLessThan(order("mailu"));
    expect(mailuStarts).toBeGreaterThan(Math.max(...aRecordsDone));

    // Secrets: generated ones reach the server, never the output, the tools' log or the state files in plain text.
    const secretKey = /^SECRET_KEY=(.+)$/m.exec(env)![1];
    const apiToken = /^API_TOKEN=(.+)$/m.exec(env)![1];
    const rootPassword = plain(outputsOf("pulumi-nodejs:dynamic/hostwinds:Instance")[0].rootPassword);
    const secrets = {
      secretKey,
      apiToken,
      postmasterPassword: server.mailu.postmasterPassword,
      rootPassword,
      dkim: dkimPem.split("\n")[1],
    };
    expect(secretKey).toMatch(/^[A-Za-z0-9]{32}$/);
    const onDisk = readAll(path.join(devDir, "backends", backend));
    const calls = JSON.stringify(hosts.calls(ip));
    for (const [name, value] of Object.entries(secrets)) {
      expect([name, r.stdout.includes(value), onDisk.includes(value), calls.includes(value)]).toEqual([name, false, false, false]);
    }
  });

  test("a second up changes nothing and runs nothing on the server", async () => {
    const execs = hosts.execs.length;
    const r = await up();
    expect(Object.keys(r.changes)).toEqual(["same"]);
    expect(hosts.execs.length).toBe(execs);
  });

  test("mailboxes: two created in one SSH round trip, one changed touching only it, one deleted; the passwords reach MailU and nowhere else", async () => {
    const withBoxes = (boxes: Record<string, Array<Record<string, unknown>>>) => ({
      ...tenant(2),
      domains: [ZONE, NEWS].map((name) => ({ name, mailboxes: boxes[name] ?? [] })),
    });
    const users = () =>
      hosts.state<ComposeState>(ip, "compose-mailu")!.users as Record<
        string,
        { passwordSha: string; quotaBytes?: number; enabled?: boolean }
      >;
    const importsSince = (n: number) => hosts.execs.slice(n).filter((e) => e.command.includes("config-import"));
    const sales = `sales@${ZONE}`;
    const news = `hello@${NEWS}`;

    // Two mailboxes on two domains: one import, one SSH round trip.
    let execs = hosts.execs.length;
    await stack.setConfig("tenant", {
      value: JSON.stringify(withBoxes({ [ZONE]: [{ localPart: "sales" }], [NEWS]: [{ localPart: "hello", quotaMb: 50 }] })),
    });
    let r = await up();
    expect(hosts.execs.length - execs).toBe(1);
    expect(importsSince(execs)).toHaveLength(1);
    const passwords = r.outputs.mailboxPasswords.value as Record<string, string>;
    expect(Object.keys(passwords).sort()).toEqual([news, sales]);
    expect(r.outputs.mailboxes.value).toEqual([
      { address: sales, quotaMb: 1024, enabled: true, host: `mx1.${ZONE}` },
      { address: news, quotaMb: 50, enabled: true, host: `mx1.${ZONE}` },
    ]);
    const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 12);
    expect(users()[sales]).toMatchObject({ passwordSha: sha(passwords[sales]), quotaBytes: 1024 ** 3, enabled: true });
    expect(users()[news]).toMatchObject({ passwordSha: sha(passwords[news]), quotaBytes: 50 * 1024 ** 2 });

    // A message submitted as each mailbox (SMTP submission, AUTH with its password; judged by Dovecot), DKIM-signed
    // as MailU's rspamd signs (its dkim_signing.conf, the stack's key), relayed by the install's relay: at the sink it
    // came from its domain's IP with HELO = that IP's PTR, and mailauth verifies the signature against the published
    // record (scripts/dev/mailu-submission.ts). A wrong password is refused and nothing reaches the sink.
    await startRelay(hosts, ip);
    const logins = [sales, news].map((address) => ({ address, password: passwords[address] }));
    await startSubmission(hosts, ip, { hostname: `mx1.${ZONE}`, mailboxes: logins });
    for (const login of logins) {
      const sent = await submitAndReceive(hosts, ip, login);
      expect([login.address, sent.code, sent.reply]).toEqual([login.address, 0, expect.any(String)]);
      const got = sent.received!;
      const domain = login.address.split("@")[1];
      const want = await routedIp(hosts, ip, domain);
      const verdict = await judge(got, dns.address);
      expect([login.address, got.sender, got.addr, verdict.ptr, verdict.dkim, verdict.signedBy, verdict.spf]).toEqual([
        login.address,
        login.address,
        want,
        [got.helo],
        "pass",
        `d=${domain} s=pm1`,
        "pass",
      ]);
      expect(got.addr).not.toBe(ip);
      console.log(
        `relay figure: ${login.address} left from ${got.addr}, HELO ${got.helo}, DKIM ${verdict.dkim} (${verdict.signedBy}), SPF ${verdict.spf}, DMARC ${verdict.dmarc}; submission to sink ${got.seconds?.toFixed(2)} s`,
      );
    }
    const wrong = await submitAndReceive(hosts, ip, { address: sales, password: `${passwords[sales]}x` });
    expect([wrong.code, wrong.received]).toEqual([28, undefined]);

    // One changed (disabled): one round trip; the other mailbox untouched, no password changes.
    const before = users()[news];
    execs = hosts.execs.length;
    await stack.setConfig("tenant", {
      value: JSON.stringify(withBoxes({ [ZONE]: [{ localPart: "sales", enabled: false }], [NEWS]: [{ localPart: "hello", quotaMb: 50 }] })),
    });
    r = await up();
    expect(hosts.execs.length - execs).toBe(1);
    expect(users()[sales]).toMatchObject({ enabled: false, passwordSha: sha(passwords[sales]) });
    expect(users()[news]).toEqual(before);
    expect(r.outputs.mailboxPasswords.value).toEqual(passwords);

    // One deleted: one round trip, MailU no longer has it; the other stays.
    execs = hosts.execs.length;
    await stack.setConfig("tenant", { value: JSON.stringify(withBoxes({ [NEWS]: [{ localPart: "hello", quotaMb: 50 }] })) });
    r = await up();
    expect(hosts.execs.length - execs).toBe(1);
    expect(Object.keys(users()).sort()).toEqual([`admin@${ZONE}`, news]);

    // The passwords: on the server only as MailU's state, never in the engine's output, the tools' log or the state files.
    const onDisk = readAll(path.join(devDir, "backends", backend));
    const calls = JSON.stringify(hosts.calls(ip));
    for (const [address, value] of Object.entries(passwords))
      expect([address, r.stdout.includes(value), onDisk.includes(value), calls.includes(value)]).toEqual([address, false, false, false]);

    // The last one gone: the resource is deleted and takes it out of MailU (one round trip).
    execs = hosts.execs.length;
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(2)) });
    await up();
    expect(hosts.execs.length - execs).toBe(1);
    expect(Object.keys(users())).toEqual([`admin@${ZONE}`]);
  });

  test("a real Postfix on the install's files: each domain leaves from one sending IP with HELO = its PTR, never from the main IP", async () => {
    await startRelay(hosts, ip);
    const first = await deliver(hosts, ip, SENDERS);
    const sendingIps = (await stack.outputs()).sendingIps.value as string[];
    for (const d of first) expect(sendingIps).toContain(d.addr);
    expect(await identityProblems(first, { dnsServer: dns.address, mainIp: ip })).toEqual([]);
    // Sticky: the same domain leaves from the same IP every time.
    expect((await deliver(hosts, ip, SENDERS)).map((d) => d.addr)).toEqual(first.map((d) => d.addr));
    // A sender domain with no route is held (a temporary refusal keeps it in MailU's queue), never sent.
    const stray = await hosts.run(ip, `smtp-source -m 1 -f x@elsewhere.example -t "sink@[203.0.113.25]" 192.168.203.1:25`);
    expect(stray.stdout + stray.stderr).toMatch(/450 4\.3\.5 .*no sending IP is configured for this sender domain/);

    // The explicit map: both domains from the IP the first one did not use; only the network step reruns,
    // and Postfix reloads (nothing of MailU restarts).
    mapped = sendingIps.find((x) => x !== first[0].addr)!;
    const n = sendingIps.indexOf(mapped) + 1;
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(2, { domainIps: { [ZONE]: n, [NEWS]: n } })) });
    const r = await up();
    expect(updatedCommands(r.events)).toEqual(["mx1-mailu-network"]);
    expect(await identity({ [SENDERS[0]]: mapped, [SENDERS[1]]: mapped })).toEqual([]);
  });

  test("the check fails when a transport's HELO or bind address is wrong", async () => {
    const good = hosts.file(ip, "/etc/postfix/master.cf")!;
    const [a, b] = relayBinds();
    const tamper = async (content: string) => {
      await hosts.run(ip, "cat > /etc/postfix/master.cf && postfix reload", content);
    };
    try {
      await tamper(good.replace(/smtp_helo_name=\S+/g, "smtp_helo_name=mail.wrong.example"));
      const wrongHelo = await identity();
      expect(wrongHelo.join("\n")).toMatch(/HELO mail\.wrong\.example from \S+, whose PTR is /);
      await tamper(
        good.replace(`smtp_bind_address=${b}`, `smtp_bind_address=${a}`).replace(`smtp_bind_address=${a}\n`, `smtp_bind_address=${b}\n`),
      );
      const wrongBind = await identity({ [SENDERS[0]]: mapped, [SENDERS[1]]: mapped });
      expect(wrongBind.join("\n")).toMatch(/left from \S+, expected /);
    } finally {
      await tamper(good);
    }
    expect(await identity()).toEqual([]);
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(2)) });
    await up();
  });

  test("the warm-up cap: past an IP's volume for the day its mail is held on the relay, never sent from another IP; the next day's cap releases it", async () => {
    // A plan of 20, 3, then 10 messages a day: on day 2 each IP may send 3. Only the network step reruns.
    await stack.setConfig("tenant", { value: JSON.stringify({ ...tenant(2), warmup: [20, 3, 10] }) });
    const r = await up();
    expect(updatedCommands(r.events)).toEqual(["mx1-mailu-network"]);
    const sendingIps = r.outputs.sendingIps.value as string[];
    // Day N is the N-th day an IP sent, counted by the relay; the daily job, run as its timer would
    // on the two next days. As the relay counts it, both IPs sent on day 1 (the date each was got).
    const plan = hosts.file(ip, "/etc/penguinmails-warmup/plan")!;
    const since = /^pm-mx1-ip1 (\S+) run 20 3 10$/m.exec(plan)![1];
    const day = (n: number) => new Date(Date.parse(since) + (n - 1) * 86_400_000).toISOString().slice(0, 10);
    const dailyJob = async (date: string) => {
      const j = await hosts.run(ip, `/usr/local/sbin/penguinmails-warmup --date ${date}`);
      expect([j.code, j.stderr]).toEqual([0, ""]);
      return j.stdout;
    };
    const systemd = hosts.state<{ enabled: string[]; active?: string[] }>(ip, "systemd")!;
    expect([systemd.enabled, systemd.active]).toEqual([
      expect.arrayContaining(["penguinmails-warmup.timer"]),
      expect.arrayContaining(["penguinmails-warmup.timer"]),
    ]);
    for (const t of ["pm-mx1-ip1", "pm-mx1-ip2"]) {
      const d = `/var/lib/penguinmails-warmup/${day(1)}`;
      expect((await hosts.run(ip, `mkdir -p ${d} && { [ -s ${d}/${t} ] || echo 1 >${d}/${t}; }`)).code).toBe(0);
    }
    expect(await dailyJob(day(2))).toBe(`warm-up ${day(2)}: pm-mx1-ip1 3, pm-mx1-ip2 3; released 0, still held 0\n`);

    // 5 messages from one domain: 3 leave from its IP (HELO = its PTR), 2 wait on the relay's hold queue.
    const sent = await sendMany(hosts, ip, SENDERS[0], 5, 3);
    const via = sent[0]?.addr;
    expect(sendingIps).toContain(via);
    expect(sent.map((d) => d.addr)).toEqual([via, via, via]); // nothing from the other IP
    expect(await identityProblems(sent, { dnsServer: dns.address, mainIp: ip })).toEqual([]);
    const held = await relayQueueWhen(hosts, ip, (q) => q.length >= 2);
    expect(held.map((m) => `${m.queue_name} ${m.sender}`)).toEqual([`hold ${SENDERS[0]}`, `hold ${SENDERS[0]}`]);

    // The next day's update raises the cap of the IP that sent to 10: the 2 held leave, from the same IP;
    // nothing reloads. The other IP sent nothing on day 2: it stays at day 2's 3.
    const [ip1Cap, ip2Cap] = sendingIps.map((x) => (x === via ? 10 : 3));
    expect(await dailyJob(day(3))).toBe(`warm-up ${day(3)}: pm-mx1-ip1 ${ip1Cap}, pm-mx1-ip2 ${ip2Cap}; released 2, still held 0\n`);
    const all = await sinkSeen(hosts, ip, 5);
    expect(all.map((d) => d.addr)).toEqual([via, via, via, via, via]);
    expect(await relayQueueWhen(hosts, ip, (q) => q.length === 0)).toEqual([]);

    // Back to the tenant's plan: the network step computes today's caps again.
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(2)) });
    await up();
    expect(hosts.file(ip, "/etc/penguinmails-warmup/caps")).toMatch(new RegExp(`^date ${new Date().toISOString().slice(0, 10)}\n`));
  });

  test("a third IP: bought, its A record and SPF entry published, and only the network step reruns", async () => {
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3)) });
    // The preview names exactly what changes: not every record, not MailU's files.
    const planned: string[] = [];
    await stack.preview({
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        if (
          m &&
          m.op !== "same" &&
          (m.type === DNS_RECORD_TYPE || m.type === COMMAND_TYPE || m.type === "pulumi-nodejs:dynamic/hostwinds:SecondaryIp")
        )
          planned.push(`${m.op} ${m.urn.split("::").pop()}`);
      },
    });
    expect(planned.sort()).toEqual([
      "create a-mx1-ip3.acme-mail.com",
      "create mx1-ip3",
      "create txt-mx1-ip3.acme-mail.com",
      "update mx1-mailu-network",
      "update txt-acme-mail.com",
      "update txt-news.acme-mail.com",
    ]);
    const execs = hosts.execs.length;
    const composeBefore = hosts.state<ComposeState>(ip, "compose-mailu")!;
    const r = await up();
    const sendingIps = r.outputs.sendingIps.value as string[];
    expect(sendingIps).toHaveLength(3);
    expect(updatedCommands(r.events)).toEqual(["mx1-mailu-network"]);
    expect(hosts.execs.slice(execs).map((e) => e.command.includes("ifquery"))).toEqual([true]);
    expect((await nicIps()).sort()).toEqual(sendingIps.map((x) => `${x}/32`).sort());
    expect(relayBinds().sort()).toEqual([...sendingIps].sort());
    expect(await identity()).toEqual([]);
    expect(hosts.state<ComposeState>(ip, "compose-mailu")).toEqual(composeBefore); // no container touched
    const published = cf.records(ZONE);
    expect(published.find((p) => p.type === "A" && p.name === `mx1-ip3.${ZONE}`)?.content).toBe(sendingIps[2]);
    const spf = published.find((p) => p.type === "TXT" && p.name === ZONE)!.content;
    for (const x of sendingIps) expect(spf).toContain(`ip4:${x}`);
  });

  test("retiring a sending IP: its replacement is bought and takes over DNS, SPF, rDNS, routing and warm-up before the old one is released", async () => {
    const before = (await stack.outputs()).sendingIps.value as string[];
    const old = before[0];
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3, { retireIps: [old] })) });
    const planned: string[] = [];
    await stack.preview({
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        if (m && m.type === "pulumi-nodejs:dynamic/hostwinds:SecondaryIp" && m.op !== "same")
          planned.push(`${m.op} ${m.urn.split("::").pop()}`);
      },
    });
    // One reviewed diff: that slot's IP is replaced, new one first, old one released last; no other IP changes.
    const slotName = planned[0]?.split(" ")[1];
    expect(planned).toEqual([`create-replacement ${slotName}`, `replace ${slotName}`, `delete-replaced ${slotName}`]);

    // At every call the stack makes to Hostwinds, SPF must list 3 sending IPs that exist.
    const problems: string[] = [];
    let atRelease: { spf: string; snat: string[] } | undefined;
    sim.onRequest = (action) => {
      const live = new Set(sim.inventory(KEY).flatMap((srv) => srv.ips));
      const spf = spfOf();
      const listedAndLive = [...spf.matchAll(/ip4:(\S+)/g)].map((m) => m[1]).filter((x) => live.has(x));
      if (listedAndLive.length < 3) problems.push(`${action}: SPF lists ${listedAndLive.length} live sending IPs (${spf})`);
      if (action === "delete_ip") atRelease = { spf, snat: relayBinds() };
    };
    const r = await up().finally(() => {
      sim.onRequest = undefined;
    });
    expect(problems).toEqual([]);
    const after = r.outputs.sendingIps.value as string[];
    const fresh = after.find((x) => !before.includes(x))!;
    expect([after.length, after.includes(old), fresh]).toEqual([3, false, expect.any(String)]);
    // When the old IP was released, SPF and the outbound rules had already moved to the new one.
    expect(atRelease!.spf).toContain(`ip4:${fresh}`);
    expect(atRelease!.spf).not.toContain(`ip4:${old}`);
    expect(atRelease!.snat.sort()).toEqual([...after].sort());
    const ipEvents = sim
      .ledger(KEY)
      .filter((e) => e.kind === "ip")
      .slice(-2)
      .map((e) => `${e.event} ${e.ip}`);
    expect(ipEvents).toEqual([`bought ${fresh}`, `released ${old}`]);
    // The new IP carries the slot's host name both ways, and its warm-up starts over.
    const warmup = r.outputs.warmup.value as Array<{ ip: string; hostname: string; since: string }>;
    const slot = warmup.find((w) => w.ip === fresh)!;
    expect(cf.records(ZONE).find((p) => p.type === "A" && p.name === slot.hostname)?.content).toBe(fresh);
    expect(sim.inventory(KEY)[0].ips).not.toContain(old);
    for (const w of warmup.filter((x) => x.ip !== fresh)) expect(Date.parse(slot.since)).toBeGreaterThan(Date.parse(w.since));
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3)) });
  });

  test("a standby IP is bought and published but does not send; pausing a bad IP puts the standby in its place, buying nothing", async () => {
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3, { standbyIps: 1 })) });
    const r = await up();
    const sending = r.outputs.sendingIps.value as string[];
    const server = (r.outputs.servers.value as Array<{ standbyIps: Array<{ ip: string; hostname: string }>; outboundIps: string[] }>)[0];
    const standby = server.standbyIps[0].ip;
    expect(server.standbyIps.map((x) => x.hostname)).toEqual([`mx1-standby1.${ZONE}`]);
    expect(cf.records(ZONE).find((p) => p.type === "A" && p.name === `mx1-standby1.${ZONE}`)?.content).toBe(standby);
    expect(spfOf()).toContain(`ip4:${standby}`); // switching to it later needs no DNS change
    expect(await nicIps()).toContain(`${standby}/32`);
    expect(relayBinds().sort()).toEqual([...sending, standby].sort()); // its transport is ready
    const before = await deliver(hosts, ip, SENDERS);
    expect(before.map((d) => d.addr)).not.toContain(standby);
    expect(server.outboundIps).toEqual(sending);
    expect((r.outputs.warmup.value as Array<{ ip: string; role: string }>).find((w) => w.ip === standby)?.role).toBe("standby");

    // The emergency switch: one line in the config; only the server's network step changes.
    const bad = before[0].addr;
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3, { standbyIps: 1, pausedIps: [bad] })) });
    const planned: string[] = [];
    await stack.preview({
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        // The default provider takes the stack's config as inputs, so it "updates" on any config change.
        if (m && m.op !== "same" && m.type !== "pulumi:pulumi:Stack" && !m.type.startsWith("pulumi:providers:"))
          planned.push(`${m.op} ${m.urn.split("::").pop()}`);
      },
    });
    expect(planned).toEqual(["update mx1-mailu-network"]);
    const ledger = sim.ledger(KEY).length;
    await up();
    // The real Postfix (reloaded by the step) now sends the paused IP's domains from the standby, with its HELO.
    const after = await deliver(hosts, ip, SENDERS);
    expect(after.map((d) => d.addr)).not.toContain(bad);
    expect(after.map((d) => d.addr)).toEqual(before.map((d) => (d.addr === bad ? standby : d.addr)));
    expect(await identityProblems(after, { dnsServer: dns.address, mainIp: ip })).toEqual([]);
    expect(sim.ledger(KEY).length).toBe(ledger);

    // A paused address that is not the server's is refused with the reason, before anything changes.
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(3, { standbyIps: 1, pausedIps: ["203.0.113.9"] })) });
    await expect(stack.preview()).rejects.toThrow(
      /tenant\.servers\[0\]\.pausedIps\[0\]: expected one of server mx1's secondary IPs \(.*\), found "203\.0\.113\.9"/,
    );
  });

  test("back to one IP: only the network step reruns; the IPs and the standby are released, every domain leaves from the one left", async () => {
    await stack.setConfig("tenant", { value: JSON.stringify(tenant(1)) });
    const released = sim.ledger(KEY).length;
    const r = await up();
    const [only] = r.outputs.sendingIps.value as string[];
    expect(updatedCommands(r.events)).toEqual(["mx1-mailu-network"]);
    expect(await nicIps()).toEqual([`${only}/32`]);
    expect(await identity({ [SENDERS[0]]: only, [SENDERS[1]]: only })).toEqual([]);
    expect(Object.values(hosts.state<ComposeState>(ip, "compose-mailu")!.services).every((s) => s.running)).toBe(true);
    expect(
      sim
        .ledger(KEY)
        .slice(released)
        .filter((e) => e.kind === "ip" && e.event === "released"),
    ).toHaveLength(3); // 2 sending IPs and the standby
  });

  test("destroy removes every record, releases the server and its IP, and the host with it", async () => {
    await stack.destroy();
    expect(cf.records(ZONE)).toEqual([]);
    expect(sim.inventory(KEY)).toEqual([]);
    expect(hosts.addresses()).toEqual([]);
  });
});
