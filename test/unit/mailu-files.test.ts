/** The files MailuInstall writes, checked for exact content and parsed as YAML. */
import { parse } from "yaml";
import { COMPOSE_KEYS, MAILU_ENV_KEYS } from "../../scripts/dev/standins/host-spec";
import {
  MAILU_VERSION,
  MailuConfig,
  MailuConfigError,
  composeFile,
  mailuEnv,
  mtaStsOverride,
  postfixOverride,
} from "../../components/mailu-files";

const config = (over: Partial<MailuConfig> = {}): MailuConfig => ({
  domain: "acme-mail.com",
  hostnames: ["mx1.acme-mail.com", "mta-sts.acme-mail.com"],
  mainIp: "198.51.100.10",
  dkimSelector: "pm1",
  tlsFlavor: "cert",
  messagesPerDay: 5000,
  secretKey: "S3cretKeyS3cretKey",
  apiToken: "ApiTokenApiTokenApiToken",
  ...over,
});

describe("MailU files", () => {
  test("every mailu.env key is one MailU documents, and every compose key one Compose knows", () => {
    for (const c of [config(), config({ tlsFlavor: "letsencrypt" })]) {
      const keys = mailuEnv(c)
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split("=")[0]);
      expect(keys.filter((k) => !MAILU_ENV_KEYS.has(k))).toEqual([]);
      const doc = parse(composeFile(c)) as Record<string, Record<string, Record<string, unknown>>>;
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

  test("docker-compose.yml: every MailU image pinned, ports on the main IP only, no sending IP (the host's relay sends)", () => {
    const doc = parse(composeFile(config())) as {
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
    expect(doc.networks.default.driver_opts).toEqual({ "com.docker.network.bridge.name": "mailu0" });
  });

  test("mailu.env opens exactly the published ports (587 is not in MailU 2024.06's default) and relays through the host", () => {
    const env = mailuEnv(config());
    expect(env).toContain("\nPORTS=25,80,443,465,587,993,4190\n");
    expect(env).toContain("\nRELAYHOST=[192.168.203.1]:25\n");
  });

  test("the MTA-STS policy names every MX host, in enforce mode (RFC 8461 §3.2)", () => {
    expect(mtaStsOverride(["mx1.acme-mail.com"])).toContain(
      'return 200 "version: STSv1\\r\\nmode: enforce\\r\\nmx: mx1.acme-mail.com\\r\\nmax_age: 604800\\r\\n";',
    );
    expect(() => mtaStsOverride(["MX1"])).toThrow(MailuConfigError);
  });

  test("postfix banner and HELO name the main host name", () => {
    expect(postfixOverride(config())).toBe(
      "myhostname = mx1.acme-mail.com\nsmtp_helo_name = mx1.acme-mail.com\nsmtp_tls_security_level = may\n",
    );
  });

  test("values that could break a line or a YAML scalar are refused, and the error never shows a secret", () => {
    const bad = () => mailuEnv(config({ apiToken: "token'\nADMIN=false", hostnames: ["MX1.acme-mail.com"], mainIp: "198.51.100.300" }));
    expect(bad).toThrow(MailuConfigError);
    expect(bad).toThrow(
      /host name "MX1.acme-mail.com" is not a lowercase host name; main IP "198.51.100.300" is not an IPv4 address; apiToken must be 16-128 letters/,
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
