/**
 * `verify` against a tenant stack brought up through the real engine: DNS
 * served by a stand-in that publishes the Cloudflare stand-in's records and
 * the Hostwinds stand-in's rDNS, an SMTP stand-in with test certificates.
 * Everything passes; then each way things break gives its own precise line.
 * Beyond our own checks, mailauth (an independent implementation) judges a
 * message signed with the stack's DKIM key against the records the stack made.
 * A second suite installs MailU over real SSH on the real-Debian host stand-in
 * and checks what only a server has: the relay's HELO against each IP's PTR
 * (Debian's own postconf reads the master.cf the install wrote), the main IP's
 * PTR, the MTA-STS policy MailU's front serves from the install's override
 * file, and the report addresses MailU's aliases take; each broken once.
 */
import { spawn } from "child_process";
import { promises as dnsp } from "dns";
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir, projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { DnsSim } from "../../scripts/dev/standins/dns";
import { SmtpSim, TestCertificates, testCertificates } from "../../scripts/dev/standins/smtp";
import { StackOutputs, VerifyOptions, verifyStack } from "../../scripts/lib/verify/index";
import { CheckResult } from "../../scripts/lib/verify/result";
import { recordsOfDomain, verifyDomain } from "../../scripts/lib/verify/domain";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { MailuFrontSim } from "../../scripts/dev/standins/mailu-front";
import { COMPOSE, REPORT_LOCAL_PARTS } from "../../components/mailu-scripts";
import { relayAccess } from "../../scripts/cli/fleet/recovery";
import { ENGINE_TEST_CEILING_MS } from "./harness";

const KEY = "sim-key-verify-0123456789";
const CF_TOKEN = "sim-cf-token-verify-0123456789";
const ZONE = "acme-mail.com";
const HOST = `mx1.${ZONE}`;
jest.setTimeout(ENGINE_TEST_CEILING_MS);
/** How long the stand-ins here may take to answer: milliseconds when quiet, longer at load 10+; a check returns on the answer. */
const ANSWER_CEILING_MS = 60_000;
const TENANT = JSON.stringify({
  id: "acme",
  tier: "starter",
  monthlyBudgetUsd: 25,
  zone: ZONE,
  domains: [{ name: ZONE }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2 }],
});

interface MailAuth {
  authenticate(
    message: string,
    o: { ip: string; helo: string; sender: string; mta: string; resolver: (name: string, rr: string) => Promise<unknown> },
  ): Promise<{
    dkim: { results: Array<{ status: { result: string } }> };
    spf: { status: { result: string } };
    dmarc: { status: { result: string } };
  }>;
  dkimSign(
    message: string,
    o: { signatureData: Array<{ signingDomain: string; selector: string; privateKey: string }> },
  ): Promise<{ signatures: string; errors: unknown[] }>;
}

const mailauth = require("mailauth") as MailAuth;

describe("verify: deliverability checks of a tenant stack", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let authoritative: DnsSim;
  let resolver: DnsSim;
  let smtp: SmtpSim;
  let certs: TestCertificates;
  let stack: Stack;
  let outputs: StackOutputs;
  const blocklist = { listed: [] as string[], unknown: [] as string[] };

  const options = (): VerifyOptions => ({
    resolvers: [resolver.address],
    authoritative: [authoritative.address],
    blocklists: ["zen.spamhaus.org"],
    smtpHost: "127.0.0.1",
    smtp: { ports: smtp.ports, ca: certs.ca, timeoutMs: ANSWER_CEILING_MS },
    // No MailU here (installMailu false), so nothing serves MTA-STS; the second suite checks it.
    mtaSts: false,
    certificates: false,
  });
  const run = () => verifyStack(outputs, options());
  const fails = (r: CheckResult[]) => r.filter((x) => x.status === "fail").map((x) => `${x.check} | ${x.subject} | ${x.detail}`);

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 150 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: [ZONE] } }).start();
    cf.addZone(ZONE);
    const source = { records: () => cf.allRecords(), ptr: (ip: string) => sim.ptr(ip), blocklists: { "zen.spamhaus.org": blocklist } };
    authoritative = await new DnsSim(source).start();
    resolver = await new DnsSim(source).start();
    certs = testCertificates(path.join(devDir, "verify-certs"), HOST);
    // No MailU here: the SMTP stand-in takes the report aliases MailU's install would make.
    smtp = await new SmtpSim({
      hostname: HOST,
      certificate: certs.good,
      recipients: (a) => REPORT_LOCAL_PARTS.some((l) => a === `${l}@${ZONE}`),
    }).start();
    stack = await localStack(`verify-${process.pid}`, programDir("verify", "stacks", "penguinmails-infra"), { backend: "verify" });
    await stack.setAllConfig({
      ...sim.stackConfig(KEY),
      ...cf.stackConfig(CF_TOKEN),
      installMailu: { value: "false" },
      tenant: { value: TENANT },
    });
    const up = await stack.up();
    outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value])) as unknown as StackOutputs;
  });
  afterAll(async () => {
    await stack?.destroy().catch(() => undefined);
    await stack?.workspace.removeStack(stack.name).catch(() => undefined);
    for (const s of [sim, cf, authoritative, resolver, smtp]) await s?.stop();
  });

  test("everything the stack made passes: records everywhere, SPF, DKIM, FCrDNS, no blocklist, SMTP with STARTTLS", async () => {
    const r = await run();
    expect(fails(r)).toEqual([]);
    expect(r.filter((x) => x.check === "dns record")).toHaveLength(outputs.dnsRecords.length);
    expect(r.find((x) => x.check === "dmarc")).toMatchObject({ status: "warn", detail: expect.stringContaining("p=none") });
    expect(r.filter((x) => x.check === "reverse dns").map((x) => x.status)).toEqual(["pass", "pass"]);
    const main = outputs.servers[0].mainIp;
    expect(r.filter((x) => x.check === "main ptr")).toEqual([
      { check: "main ptr", subject: main, status: "pass", detail: `${main} → ${HOST} → ${main}` },
    ]);
    // Without SSH to the server the relay cannot be read: unknown, never a pass.
    expect(r.filter((x) => x.check === "helo = ptr").map((x) => x.status)).toEqual(["unknown"]);
    expect(r.filter((x) => x.check === "report mailbox").map((x) => `${x.subject} ${x.status}`)).toEqual([
      `dmarc-reports@${ZONE} pass`,
      `tls-reports@${ZONE} pass`,
    ]);
    expect(r.filter((x) => x.check === "smtp").map((x) => `${x.subject} ${x.status}`)).toEqual([
      `${HOST}:25 pass`,
      `${HOST}:465 pass`,
      `${HOST}:587 pass`,
    ]);
    expect(r.find((x) => x.check === "dkim")?.detail).toBe("RSA 2048 bits, matches the stack's key");
  });

  test("a record deleted in the dashboard: its line and DMARC's fail", async () => {
    cf.deleteByHand(ZONE, `_dmarc.${ZONE}`, "TXT");
    const f = fails(await run());
    expect(f).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^dns record \\| TXT _dmarc\\.${ZONE} \\| expected v=DMARC1; p=none; .*authoritative 127\\.0\\.0\\.1:\\d+ answers NXDOMAIN`,
        ),
      ),
    );
    expect(f).toContain(`dmarc | _dmarc.${ZONE} | no DMARC record at _dmarc`);
    await stack.up({ refresh: true }); // refresh sees it gone; up puts it back
    expect(fails(await run())).toEqual([]);
  });

  test("a resolver that lags: a record it does not serve yet, an SPF it still serves old", async () => {
    const [ip1, ip2] = outputs.servers[0].sendingIps.map((s) => s.ip);
    resolver.faults = { missing: new Set([`A mx1-ip1.${ZONE}`]), stale: new Map([[`TXT ${ZONE}`, `v=spf1 mx ip4:${ip1} -all`]]) };
    try {
      const f = fails(await run());
      expect(f).toContainEqual(
        expect.stringMatching(
          new RegExp(`^dns record \\| A mx1-ip1\\.${ZONE} \\| expected [\\d.]+; resolver 127\\.0\\.0\\.1:\\d+ answers no answer$`),
        ),
      );
      expect(f).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^dns record \\| TXT ${ZONE} \\| .*resolver 127\\.0\\.0\\.1:\\d+ answers v=spf1 mx ip4:${ip1.replace(/\./g, "\\.")} -all$`,
          ),
        ),
      );
      expect(f).toContain(`spf | ${ZONE} | does not cover sending IP ${ip2}`);
    } finally {
      resolver.faults = {};
    }
  });

  test("rDNS changed by hand breaks FCrDNS for that IP only", async () => {
    const [s1, s2] = outputs.servers[0].sendingIps;
    sim.setRdnsByHand(KEY, s1.ip, "hwsrv-1.hostwindsdns.com");
    try {
      const r = await run();
      expect(fails(r)).toEqual([`reverse dns | ${s1.ip} | PTR is hwsrv-1.hostwindsdns.com, expected ${s1.hostname}`]);
      expect(r.find((x) => x.subject === s2.ip)?.status).toBe("pass");
    } finally {
      sim.setRdnsByHand(KEY, s1.ip, s1.hostname);
    }
  });

  test("blocklists: a listed IP fails; a 127.255.255.x answer is 'unknown', never listed", async () => {
    const [s1, s2] = outputs.servers[0].sendingIps;
    blocklist.listed.push(s2.ip);
    blocklist.unknown.push(s1.ip);
    try {
      const r = await run();
      expect(fails(r)).toEqual([`blocklist | ${s2.ip} on zen.spamhaus.org | listed (127.0.0.2): retire or pause this IP`]);
      expect(r.find((x) => x.subject === `${s1.ip} on zen.spamhaus.org`)).toMatchObject({
        status: "unknown",
        detail: expect.stringContaining("could not tell (127.255.255.254"),
      });
    } finally {
      blocklist.listed.length = 0;
      blocklist.unknown.length = 0;
    }
  });

  test("SMTP: another name in the banner, no STARTTLS, a certificate for another name, an untrusted one, one about to expire", async () => {
    const smtpLines = async () =>
      (await run()).filter((x) => x.check === "smtp" && x.status !== "pass").map((x) => `${x.subject} ${x.status}: ${x.detail}`);
    const cases: Array<[Partial<SmtpSim["faults"]>, RegExp]> = [
      [{ banner: "localhost.localdomain" }, new RegExp(`^${HOST}:25 fail: banner names "localhost.localdomain", not ${HOST}`)],
      [{ noStartTls: true }, new RegExp(`^${HOST}:25 fail: STARTTLS is not offered$`)],
      [
        { certificate: certs.wrongName },
        new RegExp(`^${HOST}:25 fail: banner ${HOST}, STARTTLS; certificate does not name ${HOST} \\(DNS:other\\.${HOST}\\)`),
      ],
      [
        { certificate: certs.selfSigned },
        new RegExp(
          `^${HOST}:25 fail: banner ${HOST}, STARTTLS; certificate not trusted: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)`,
        ),
      ],
      [
        { certificate: certs.shortLived },
        new RegExp(`^${HOST}:25 warn: banner ${HOST}, STARTTLS; certificate for ${HOST}, expires in [12] days`),
      ],
    ];
    try {
      for (const [fault, line] of cases) {
        smtp.faults = fault;
        const lines = await smtpLines();
        expect([JSON.stringify(Object.keys(fault)), lines.some((l) => line.test(l)) ? "found" : lines.join("\n")]).toEqual([
          JSON.stringify(Object.keys(fault)),
          "found",
        ]);
      }
    } finally {
      smtp.faults = {};
    }
  });

  test("the CLI: a table and exit status 0 on a healthy stack, 1 and the failing line when something breaks", async () => {
    const file = path.join(devDir, "verify-outputs.json");
    fs.writeFileSync(file, JSON.stringify(outputs));
    fs.writeFileSync(path.join(devDir, "verify-ca.pem"), certs.ca);
    const cli = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, [
          path.join(projectRoot, "dist/scripts/cli/verify.js"),
          "--outputs",
          file,
          "--resolvers",
          resolver.address,
          "--authoritative",
          authoritative.address,
          "--smtp-host",
          "127.0.0.1",
          "--smtp-ports",
          Object.entries(smtp.ports)
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
          "--ca",
          path.join(devDir, "verify-ca.pem"),
          "--no-mta-sts",
          // No MailU here, so no HTTPS for autoconfig/autodiscover/mta-sts either (the second suite checks them).
          "--no-certificate-names",
        ]);
        let out = "";
        p.stdout.on("data", (d: Buffer) => {
          out += d;
        });
        p.on("close", (code) => resolve({ code, out }));
      });
    const ok = await cli();
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^check\s+subject\s+result\s+detail/);
    // The warning: DMARC p=none; the unknown: the relay's HELO, which needs SSH (--stack), not --outputs.
    expect(ok.out).toMatch(/\n\d+ pass, 0 fail, 1 warn, 1 unknown$/m);
    blocklist.listed.push(outputs.servers[0].sendingIps[0].ip);
    const bad = await cli();
    blocklist.listed.length = 0;
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/blocklist\s+\S+ on zen\.spamhaus\.org\s+FAIL\s+listed \(127\.0\.0\.2\)/);
  });

  test("an independent judge: mailauth passes SPF, DKIM and DMARC for mail signed with the stack's key from a sending IP", async () => {
    const state = await stack.exportStack();
    const dkim = (state.deployment.resources as Array<{ type: string; outputs: Record<string, unknown> }>).find(
      (r) => r.type === "pulumi-nodejs:dynamic/penguinmails:DkimKey",
    )!;
    const pem = JSON.parse((dkim.outputs.privateKeyPem as { plaintext: string }).plaintext) as string;
    const message = `From: Postmaster <admin@${ZONE}>\r\nTo: someone@example.net\r\nSubject: verify\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <verify@${ZONE}>\r\n\r\nHello.\r\n`;
    const signed = await mailauth.dkimSign(message, { signatureData: [{ signingDomain: ZONE, selector: "pm1", privateKey: pem }] });
    expect(signed.errors).toEqual([]);
    const r = new dnsp.Resolver({ timeout: ANSWER_CEILING_MS / 4, tries: 4 });
    r.setServers([resolver.address]);
    const sending = outputs.servers[0].sendingIps[1];
    const result = await mailauth.authenticate(signed.signatures + message, {
      ip: sending.ip,
      helo: sending.hostname,
      sender: `admin@${ZONE}`,
      mta: "mx.example.net",
      resolver: (name, rr) => r.resolve(name, rr as "A"),
    });
    expect([result.dkim.results[0]?.status.result, result.spf.status.result, result.dmarc.status.result]).toEqual(["pass", "pass", "pass"]);
    // And a sender outside SPF is refused by the same judge.
    const stranger = await mailauth.authenticate(message, {
      ip: "203.0.113.99",
      helo: "evil.example",
      sender: `admin@${ZONE}`,
      mta: "mx.example.net",
      resolver: (name, rr) => r.resolve(name, rr as "A"),
    });
    expect([stranger.spf.status.result, stranger.dmarc.status.result]).toEqual(["fail", "fail"]);
  });
});

const unavailable = SshHostSim.unavailableReason();
if (unavailable) console.warn(`verify's server checks skipped: ${unavailable}`);
const withHosts = unavailable ? describe.skip : describe;

withHosts("verify: what only the server can say (MailU installed over SSH on the real-Debian stand-in)", () => {
  const MKEY = "sim-key-verify-mailu-0123456789";
  const MCF = "sim-cf-token-verify-mailu-0123456789";
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let dns: DnsSim;
  let hosts: SshHostSim;
  let smtp: SmtpSim;
  let front: MailuFrontSim;
  let smtpCerts: TestCertificates;
  let stsCerts: TestCertificates;
  let stack: Stack;
  let outputs: StackOutputs;
  let ip = "";

  const options = (): VerifyOptions => ({
    resolvers: [dns.address],
    authoritative: [dns.address],
    blocklists: [],
    smtpHost: "127.0.0.1",
    smtp: { ports: smtp.ports, ca: smtpCerts.ca, timeoutMs: ANSWER_CEILING_MS },
    mtaSts: { host: "127.0.0.1", port: front.port, ca: stsCerts.ca, timeoutMs: ANSWER_CEILING_MS },
    certificates: { host: "127.0.0.1", port: front.port, ca: stsCerts.ca, timeoutMs: ANSWER_CEILING_MS },
    ssh: relayAccess(stack, "acme"),
    backups: false,
  });
  const run = () => verifyStack(outputs, options());
  const fails = (r: CheckResult[]) => r.filter((x) => x.status === "fail").map((x) => `${x.check} | ${x.subject} | ${x.detail}`);
  const mailuCli = (args: string) => hosts.run(ip, `cd /mailu && ${COMPOSE}; dc exec -T admin flask mailu ${args}`);

  beforeAll(async () => {
    hosts = new SshHostSim({ dir: path.join(devDir, "ssh-hosts", `verify-${process.pid}`) });
    sim = await new HostwindsSim({ apiKeys: [MKEY], buildMs: 300, ipDelayMs: 200, hosts }).start();
    cf = await new CloudflareSim({ tokens: { [MCF]: [ZONE] } }).start();
    cf.addZone(ZONE);
    dns = await new DnsSim({ records: () => cf.allRecords(), ptr: (x) => sim.ptr(x) }).start();
    stack = await localStack(`verify-mailu-${process.pid}`, programDir("verify-mailu", "stacks", "penguinmails-infra"), {
      backend: "verify-mailu",
    });
    await stack.setAllConfig({
      ...sim.stackConfig(MKEY),
      ...cf.stackConfig(MCF),
      tenant: { value: TENANT },
    });
    const up = await stack.up();
    outputs = Object.fromEntries(Object.entries(up.outputs).map(([k, v]) => [k, v.value])) as unknown as StackOutputs;
    ip = outputs.servers[0].mainIp;
    smtpCerts = testCertificates(path.join(devDir, "verify-mailu-certs"), HOST);
    // MailU's certificate names exactly its HOSTNAMES (Let's Encrypt, reference §5): the front serves one made for them.
    const hostnames = /^HOSTNAMES=(.*)$/m.exec(hosts.file(ip, "/mailu/mailu.env") ?? "")![1].split(",");
    stsCerts = testCertificates(path.join(devDir, "verify-mta-sts-certs"), `mta-sts.${ZONE}`, hostnames);
    // MailU's Postfix takes mail for its users and aliases: as MailU's admin (stand-in) holds them after the install.
    smtp = await new SmtpSim({
      hostname: HOST,
      certificate: smtpCerts.good,
      recipients: (a) => hosts.mailuHasAddress(ip, a),
    }).start();
    // MailU's front answers from the override file the install wrote, read on every request.
    front = await new MailuFrontSim({
      certificate: stsCerts.good,
      config: () => hosts.file(ip, "/mailu/overrides/nginx/mta-sts.conf"),
    }).start();
  });
  afterAll(async () => {
    await stack?.workspace.removeStack(stack.name, { force: true }).catch(() => undefined);
    await hosts?.stop();
    for (const s of [sim, cf, dns, smtp, front]) await s?.stop();
  });

  test("everything passes: each IP's HELO is its PTR, the main IP's PTR is the host name, MTA-STS served and matching, report aliases take mail", async () => {
    const r = await run();
    expect(fails(r)).toEqual([]);
    const [s1, s2] = outputs.servers[0].sendingIps;
    expect(r.filter((x) => x.check === "helo = ptr").map((x) => `${x.subject} ${x.status}: ${x.detail}`)).toEqual([
      `pm-mx1-ip1 ${s1.ip} pass: HELO ${s1.hostname} = PTR of ${s1.ip}`,
      `pm-mx1-ip2 ${s2.ip} pass: HELO ${s2.hostname} = PTR of ${s2.ip}`,
    ]);
    expect(r.find((x) => x.check === "main ptr")).toMatchObject({ subject: ip, status: "pass" });
    expect(r.find((x) => x.check === "mta-sts")).toMatchObject({
      subject: ZONE,
      status: "pass",
      detail: expect.stringMatching(new RegExp(`^mode enforce, mx ${HOST}, max_age 604800 s; id [0-9a-f]{20} matches the policy served$`)),
    });
    expect(front.requests).toContain("/.well-known/mta-sts.txt");
    expect(r.filter((x) => x.check === "report mailbox").map((x) => `${x.subject} ${x.status}`)).toEqual([
      `dmarc-reports@${ZONE} pass`,
      `tls-reports@${ZONE} pass`,
    ]);
  });

  test("a domain's verification (the service's Re-verify DNS) fetches its MTA-STS policy: ok when served and trusted, failing with the reason when not", async () => {
    const s = outputs.servers[0];
    const sending = [...s.sendingIps, ...(s.standbyIps ?? [])];
    const records = recordsOfDomain(ZONE, outputs.dnsRecords, [s.name, ...sending.map((x) => x.hostname)]);
    const verifyWith = (mtaSts: { host: string; port: number; ca?: string; timeoutMs: number }) =>
      verifyDomain(
        { domain: ZONE, zone: { zone: ZONE }, records, sendingIps: sending },
        {
          authoritative: [{ label: "authoritative", address: dns.address }],
          resolvers: [{ label: "resolver", address: dns.address }],
          mtaSts,
        },
      );
    const policyRow = (v: Awaited<ReturnType<typeof verifyDomain>>) =>
      v.records.find((r) => r.name === `https://mta-sts.${ZONE}/.well-known/mta-sts.txt`);
    const good = await verifyWith({ host: "127.0.0.1", port: front.port, ca: stsCerts.ca, timeoutMs: ANSWER_CEILING_MS });
    expect(policyRow(good)).toMatchObject({ type: "MTA-STS", state: "ok" });
    // The same front, its certificate not trusted (no test CA): a sender would refuse the policy (RFC 8461 §3.3).
    const untrusted = await verifyWith({ host: "127.0.0.1", port: front.port, timeoutMs: ANSWER_CEILING_MS });
    expect(policyRow(untrusted)).toMatchObject({ type: "MTA-STS", state: "failing", hint: expect.stringContaining(`mta-sts.${ZONE}`) });
    expect(untrusted.status).toBe("failing");
  });

  test("a wrong HELO in the relay (set with the server's own postconf) fails for that IP only", async () => {
    const s1 = outputs.servers[0].sendingIps[0];
    const set = (helo: string) => hosts.run(ip, `postconf -c /etc/postfix -P pm-mx1-ip1/unix/smtp_helo_name=${helo}`);
    expect((await set(HOST)).code).toBe(0);
    try {
      expect(fails(await run())).toEqual([`helo = ptr | pm-mx1-ip1 ${s1.ip} | HELO ${HOST}, but the PTR of ${s1.ip} is ${s1.hostname}`]);
    } finally {
      await set(s1.hostname);
    }
    expect(fails(await run())).toEqual([]);
  });

  test("the main IP's PTR missing fails main ptr", async () => {
    sim.setRdnsByHand(MKEY, ip, "");
    try {
      expect(fails(await run())).toEqual([`main ptr | ${ip} | PTR is NXDOMAIN, expected ${HOST}`]);
    } finally {
      sim.setRdnsByHand(MKEY, ip, HOST);
    }
  });

  test("a policy changed on the server without a new _mta-sts id fails MTA-STS", async () => {
    const edit = (from: string, to: string) =>
      hosts.run(ip, `sed -i 's/max_age: ${from}/max_age: ${to}/' /mailu/overrides/nginx/mta-sts.conf`);
    await edit("604800", "86400");
    try {
      const f = fails(await run());
      expect(f).toHaveLength(1);
      expect(f[0]).toMatch(
        new RegExp(
          `^mta-sts \\| ${ZONE} \\| the _mta-sts id [0-9a-f]{20} is not the served policy's \\([0-9a-f]{20}\\): the id must change whenever the policy does`,
        ),
      );
    } finally {
      await edit("86400", "604800");
    }
  });

  test("a report alias deleted in MailU: RCPT is refused and report mailbox fails", async () => {
    expect((await mailuCli(`alias-delete tls-reports@${ZONE}`)).code).toBe(0);
    try {
      expect(fails(await run())).toEqual([
        `report mailbox | tls-reports@${ZONE} | TLS-RPT rua: ${HOST} rejects it (550 5.1.1 <tls-reports@${ZONE}>: Recipient address rejected: User unknown in virtual mailbox table): reports to it bounce; create the mailbox or alias`,
      ]);
    } finally {
      await mailuCli(`alias tls-reports ${ZONE} admin@${ZONE}`);
    }
    expect(fails(await run())).toEqual([]);
  });
});
