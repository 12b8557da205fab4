/**
 * `verify`'s certificate name check against real TLS servers on loopback: a certificate made from
 * HOSTNAMES without autodiscover.<domain> (what the install wrote before) fails for that name.
 */
import * as os from "os";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import { AddressInfo } from "net";
import { checkCertificateNames, namesServedBy } from "../../scripts/lib/verify/certificate-names";
import { mailDomainRecords, webHostnames } from "../../components/mail-records";
import { testCertificates } from "../../scripts/dev/standins/smtp";

const DOMAIN = "acme-mail.com";
const HOST = `mx1.${DOMAIN}`;
const records = mailDomainRecords({
  domain: DOMAIN,
  mailHost: HOST,
  hosts: [{ hostname: HOST, ip: "198.51.100.10" }],
  sendingIps: ["198.51.100.11"],
  dkim: { selector: "pm1", publicKeyBase64: "MIIB" },
  dmarcPolicy: "none",
});

async function serve(cert: { key: string; cert: string }): Promise<tls.Server> {
  const server = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return server;
}

describe("verify: certificate names", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pm-cert-names-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("the names checked are the stack's CNAMEs to the mail host, and every one is among the install's HOSTNAMES", () => {
    const names = namesServedBy(records, [{ hostname: HOST, address: "198.51.100.10" }]).map((n) => n.name);
    expect(names.sort()).toEqual([`autoconfig.${DOMAIN}`, `autodiscover.${DOMAIN}`, `mta-sts.${DOMAIN}`]);
    expect(names.sort()).toEqual(webHostnames(DOMAIN).sort());
  });

  test("a certificate without autodiscover.<domain> fails for that name only; one with all names passes", async () => {
    const without = testCertificates(path.join(dir, "without"), HOST, [`autoconfig.${DOMAIN}`, `mta-sts.${DOMAIN}`]);
    const all = testCertificates(path.join(dir, "all"), HOST, webHostnames(DOMAIN));
    for (const [certs, expected] of [
      [without, { [`autoconfig.${DOMAIN}`]: "pass", [`autodiscover.${DOMAIN}`]: "fail", [`mta-sts.${DOMAIN}`]: "pass" }],
      [all, { [`autoconfig.${DOMAIN}`]: "pass", [`autodiscover.${DOMAIN}`]: "pass", [`mta-sts.${DOMAIN}`]: "pass" }],
    ] as const) {
      const server = await serve(certs.good);
      try {
        const port = (server.address() as AddressInfo).port;
        const r = await checkCertificateNames(records, [{ hostname: HOST, address: "127.0.0.1" }], { port, ca: certs.ca, timeoutMs: 5000 });
        expect(Object.fromEntries(r.map((x) => [x.subject, x.status]))).toEqual(expected);
        const failed = r.find((x) => x.status === "fail");
        if (failed) expect(failed.detail).toContain(`add autodiscover.${DOMAIN} to MailU's HOSTNAMES`);
      } finally {
        server.close();
      }
    }
  });

  test("an untrusted certificate fails even when it names the host", async () => {
    const certs = testCertificates(path.join(dir, "self"), `autoconfig.${DOMAIN}`);
    const server = await serve(certs.selfSigned);
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await checkCertificateNames(
        records.filter((x) => x.name === `autoconfig.${DOMAIN}`),
        [{ hostname: HOST, address: "127.0.0.1" }],
        { port, timeoutMs: 5000 },
      );
      expect(r).toEqual([expect.objectContaining({ status: "fail", detail: expect.stringContaining("is not trusted") })]);
    } finally {
      server.close();
    }
  });
});
