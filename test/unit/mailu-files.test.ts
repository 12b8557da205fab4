/** The files MailuInstall writes, checked for exact content and parsed as YAML. */
import { load } from "js-yaml";
import { COMPOSE_KEYS, MAILU_ENV_KEYS } from "../../scripts/dev/standins/host-spec";
import {
  MAILU_VERSION,
  MailuConfig,
  MailuConfigError,
  composeFile,
  mailuEnv,
  netplanFile,
  postfixOverride,
  snatRules,
} from "../../components/mailu-files";

const config = (over: Partial<MailuConfig> = {}): MailuConfig => ({
  domain: "acme-mail.com",
  hostnames: ["mx1.acme-mail.com", "mta-sts.acme-mail.com"],
  mainIp: "198.51.100.10",
  sendingIps: ["198.51.100.11"],
  dkimSelector: "pm1",
  tlsFlavor: "cert",
  messagesPerDay: 5000,
  secretKey: "S3cretKeyS3cretKey",
  apiToken: "ApiTokenApiTokenApiToken",
  ...over,
});

describe("MailU files", () => {
  test("every mailu.env key is one MailU documents, and every compose key one Compose knows", () => {
    for (const c of [config(), config({ sendingIps: ["198.51.100.11", "198.51.100.12"] })]) {
      const keys = mailuEnv(c)
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split("=")[0]);
      expect(keys.filter((k) => !MAILU_ENV_KEYS.has(k))).toEqual([]);
      const doc = load(composeFile(c)) as Record<string, Record<string, Record<string, unknown>>>;
      expect(Object.keys(doc).filter((k) => !COMPOSE_KEYS.top.has(k))).toEqual([]);
      for (const svc of Object.values(doc.services)) expect(Object.keys(svc).filter((k) => !COMPOSE_KEYS.service.has(k))).toEqual([]);
      for (const net of Object.values(doc.networks)) expect(Object.keys(net).filter((k) => !COMPOSE_KEYS.network.has(k))).toEqual([]);
    }
  });

  test("mailu.env: the domain, host names, DKIM path, a sender's rate limit and the API", () => {
    const env = Object.fromEntries(
      mailuEnv(config())
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    );
    expect(env).toMatchObject({
      DOMAIN: "acme-mail.com",
      HOSTNAMES: "mx1.acme-mail.com,mta-sts.acme-mail.com",
      TLS_FLAVOR: "cert",
      API: "true",
      API_TOKEN: "ApiTokenApiTokenApiToken",
      SECRET_KEY: "S3cretKeyS3cretKey",
      MESSAGE_RATELIMIT: "5000/day",
      DKIM_SELECTOR: "pm1",
      DKIM_PATH: "/dkim/{domain}.{selector}.key",
      SUBNET: "192.168.203.0/24",
      WEBMAIL: "none",
    });
  });

  test("docker-compose.yml: every MailU image pinned, ports on the main IP only, one sending IP through Docker's host_ipv4", () => {
    const doc = load(composeFile(config())) as {
      services: Record<string, { image: string; ports?: string[] }>;
      networks: { default: { driver_opts?: Record<string, string> } };
    };
    const mailu = Object.values(doc.services)
      .map((s) => s.image)
      .filter((i) => i.startsWith("ghcr.io/mailu/"));
    expect(mailu).toHaveLength(6);
    for (const i of mailu) expect(i.endsWith(`:${MAILU_VERSION}`)).toBe(true);
    expect(MAILU_VERSION).toMatch(/^2024\.06\.\d+$/);
    expect(doc.services.front.ports).toEqual(["25", "80", "443", "465", "587", "993", "4190"].map((p) => `198.51.100.10:${p}:${p}`));
    expect(doc.networks.default.driver_opts).toEqual({ "com.docker.network.host_ipv4": "198.51.100.11" });
    expect(
      snatRules(config())
        .split("\n")
        .filter((l) => l.startsWith("iptables")),
    ).toEqual([
      "iptables -t nat -D POSTROUTING -s 192.168.203.0/24 -p tcp --dport 25 -m conntrack --ctstate NEW -j PM_SENDING 2>/dev/null || true",
      "iptables -t nat -F PM_SENDING 2>/dev/null || true",
      "iptables -t nat -X PM_SENDING 2>/dev/null || true",
    ]);
  });

  test("several sending IPs: no host_ipv4, netplan carries them all, SNAT spreads new SMTP connections round robin", () => {
    const c = config({ sendingIps: ["198.51.100.11", "198.51.100.12", "198.51.100.13"] });
    expect((load(composeFile(c)) as { networks: { default: { driver_opts?: unknown } } }).networks.default.driver_opts).toBeUndefined();
    expect(load(netplanFile(c))).toEqual({
      network: { version: 2, ethernets: { eth0: { addresses: ["198.51.100.11/32", "198.51.100.12/32", "198.51.100.13/32"] } } },
    });
    const rules = snatRules(c)
      .split("\n")
      .filter((l) => l.includes("-A PM_SENDING"));
    expect(rules).toEqual([
      "iptables -t nat -A PM_SENDING -m statistic --mode nth --every 3 --packet 0 -j SNAT --to-source 198.51.100.11",
      "iptables -t nat -A PM_SENDING -m statistic --mode nth --every 2 --packet 0 -j SNAT --to-source 198.51.100.12",
      "iptables -t nat -A PM_SENDING -j SNAT --to-source 198.51.100.13",
    ]);
    expect(snatRules(c)).toContain("-s 192.168.203.0/24 -p tcp --dport 25");
  });

  test("postfix banner and HELO name the main host name", () => {
    expect(postfixOverride(config())).toBe(
      "myhostname = mx1.acme-mail.com\nsmtp_helo_name = mx1.acme-mail.com\nsmtp_tls_security_level = may\n",
    );
  });

  test("values that could break a line or a YAML scalar are refused, and the error never shows a secret", () => {
    const bad = () =>
      mailuEnv(config({ apiToken: "token'\nADMIN=false", hostnames: ["MX1.acme-mail.com"], sendingIps: ["198.51.100.300"] }));
    expect(bad).toThrow(MailuConfigError);
    expect(bad).toThrow(
      /host name "MX1.acme-mail.com" is not a lowercase host name; "198.51.100.300" is not an IPv4 address; apiToken must be 16-128 letters/,
    );
    let message = "";
    try {
      bad();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toContain("ADMIN=false");
  });
});
