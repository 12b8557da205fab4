/** The records of a sending domain, checked for exact content. */
import { generateKeyPairSync } from "crypto";
import {
  MailRecordError,
  countSpfLookups,
  dmarcRecord,
  mailDomainRecords,
  mtaStsId,
  mtaStsPolicy,
  spfRecord,
} from "../../components/mail-records";

const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pub = publicKey.export({ type: "spki", format: "der" }).toString("base64");

const spec = (sendingIps: string[]) => ({
  domain: "acme-mail.com",
  mailHost: "mx1.acme-mail.com",
  hosts: [
    { hostname: "mx1.acme-mail.com", ip: "198.51.100.10" },
    ...sendingIps.map((ip, i) => ({ hostname: `mx1-ip${i + 1}.acme-mail.com`, ip })),
  ],
  sendingIps,
  dkim: { selector: "pm1", publicKeyBase64: pub },
  dmarcPolicy: "none" as const,
});

describe("mail domain records", () => {
  test("one sending IP: the exact record set", () => {
    const rs = mailDomainRecords(spec(["198.51.100.11"])).map((r) =>
      `${r.type} ${r.name} ${r.priority ?? ""} ${r.type === "TXT" && r.name.includes("_domainkey") ? "(dkim)" : r.content}`
        .replace(/\s+/g, " ")
        .trim(),
    );
    expect(rs).toEqual([
      "A mx1.acme-mail.com 198.51.100.10",
      "A mx1-ip1.acme-mail.com 198.51.100.11",
      "TXT mx1.acme-mail.com v=spf1 ip4:198.51.100.10 -all",
      "TXT mx1-ip1.acme-mail.com v=spf1 ip4:198.51.100.11 -all",
      "MX acme-mail.com 10 mx1.acme-mail.com",
      "TXT acme-mail.com v=spf1 mx ip4:198.51.100.11 -all",
      "TXT pm1._domainkey.acme-mail.com (dkim)",
      "TXT _dmarc.acme-mail.com v=DMARC1; p=none; rua=mailto:dmarc-reports@acme-mail.com; fo=1",
      "CNAME autoconfig.acme-mail.com mx1.acme-mail.com",
      "CNAME autodiscover.acme-mail.com mx1.acme-mail.com",
      "SRV _submissions._tcp.acme-mail.com 10 1 465 mx1.acme-mail.com",
      "SRV _submission._tcp.acme-mail.com 20 1 587 mx1.acme-mail.com",
      "SRV _imaps._tcp.acme-mail.com 10 1 993 mx1.acme-mail.com",
      "SRV _autodiscover._tcp.acme-mail.com 10 1 443 mx1.acme-mail.com",
      "CNAME mta-sts.acme-mail.com mx1.acme-mail.com",
      `TXT _mta-sts.acme-mail.com v=STSv1; id=${mtaStsId(mtaStsPolicy(["mx1.acme-mail.com"]))}`,
      "TXT _smtp._tls.acme-mail.com v=TLSRPTv1; rua=mailto:tls-reports@acme-mail.com",
    ]);
    expect(mailDomainRecords(spec(["198.51.100.11"])).every((r) => r.proxied === false)).toBe(true);
  });

  test("null-sender mail passes SPF by its HELO name alone (RFC 7208 §2.4), judged by mailauth", async () => {
    // mailauth is an independent SPF implementation; its resolver here serves exactly the records laid out.
    const { spf } = require("mailauth/lib/spf") as {
      spf: (o: Record<string, unknown>) => Promise<{ status: { result: string } }>;
    };
    const rs = mailDomainRecords(spec(["198.51.100.11", "198.51.100.12"]));
    const resolver = async (name: string, rr: string) => {
      const found = rs.filter((r) => r.name === name.toLowerCase() && r.type === rr).map((r) => (rr === "TXT" ? [r.content] : r.content));
      if (!found.length) throw Object.assign(new Error(`no ${rr} for ${name}`), { code: "ENOTFOUND" });
      return found;
    };
    const judge = (helo: string, ip: string) => spf({ sender: "", helo, ip, mta: "sink.example", resolver }).then((r) => r.status.result);
    expect(await judge("mx1-ip2.acme-mail.com", "198.51.100.12")).toBe("pass");
    expect(await judge("mx1-ip2.acme-mail.com", "198.51.100.11")).toBe("fail");
    expect(await judge("mx1.acme-mail.com", "198.51.100.10")).toBe("pass");
  });

  test("MTA-STS: the policy text of RFC 8461 §3.2, and an id that changes whenever the policy does", () => {
    const policy = mtaStsPolicy(["mx1.acme-mail.com"]);
    expect(policy).toBe("version: STSv1\r\nmode: enforce\r\nmx: mx1.acme-mail.com\r\nmax_age: 604800\r\n");
    expect(mtaStsId(policy)).toMatch(/^[0-9a-f]{20}$/);
    expect(mtaStsId(mtaStsPolicy(["mx1.acme-mail.com"]))).toBe(mtaStsId(policy));
    expect(mtaStsId(mtaStsPolicy(["mx2.acme-mail.com"]))).not.toBe(mtaStsId(policy));
    expect(mtaStsId(mtaStsPolicy(["mx1.acme-mail.com"], 86400))).not.toBe(mtaStsId(policy));
  });

  test("four sending IPs: an A record each, and SPF covers every one within the lookup limit", () => {
    const ips = ["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"];
    const rs = mailDomainRecords(spec(ips));
    expect(rs.filter((r) => r.type === "A").map((r) => r.content)).toEqual(["198.51.100.10", ...ips]);
    const spf = rs.find((r) => r.name === "acme-mail.com" && r.content.startsWith("v=spf1"))!;
    for (const ip of ips) expect(spf.content.split(" ")).toContain(`ip4:${ip}`);
    expect(countSpfLookups(spf.content)).toBe(1);
  });

  test("DKIM TXT carries the key's public half, whole, longer than one 255-byte string", () => {
    const dkim = mailDomainRecords(spec(["198.51.100.11"])).find((r) => r.name === "pm1._domainkey.acme-mail.com")!;
    expect(dkim.content).toBe(`v=DKIM1; k=rsa; p=${pub}`);
    expect(dkim.content.length).toBeGreaterThan(255);
    expect(dkim.content).not.toContain('"');
  });

  test("SPF lookups are counted the way receivers count them", () => {
    expect(countSpfLookups("v=spf1 mx a include:_spf.google.com ip4:1.2.3.4 exists:%{i}.x.example redirect=other.example -all")).toBe(5);
    expect(countSpfLookups("v=spf1 ip4:1.2.3.4 ip6:2001:db8::1 -all")).toBe(0);
    expect(spfRecord("a.example", ["1.2.3.4", "1.2.3.4"]).content).toBe("v=spf1 mx ip4:1.2.3.4 -all");
  });

  test('a pending IP order (address "") gets a waiting A record and no SPF term, instead of failing the run (issue 31 item 7)', () => {
    const s = spec(["198.51.100.11"]);
    const records = mailDomainRecords({ ...s, hosts: [...s.hosts, { hostname: "mail1-ip2.acme-mail.com", ip: "" }] });
    expect(records.find((r) => r.name === "mail1-ip2.acme-mail.com")).toMatchObject({ type: "A", content: "" });
    expect(records.find((r) => r.name === "acme-mail.com" && r.content.startsWith("v=spf1"))?.content).toBe(
      "v=spf1 mx ip4:198.51.100.11 -all",
    );
    // A pending IP sends nothing: its HELO record comes with its address.
    expect(records.filter((r) => r.name === "mail1-ip2.acme-mail.com").map((r) => r.type)).toEqual(["A"]);
  });

  test("bad inputs are refused with the reason, before anything is made", () => {
    expect(() => mailDomainRecords({ ...spec(["198.51.100.11"]), domain: "Acme Mail.com" })).toThrow(MailRecordError);
    expect(() => mailDomainRecords({ ...spec(["198.51.100.11"]), domain: "Acme Mail.com" })).toThrow(
      /domain "Acme Mail.com" is not a lowercase domain name/,
    );
    expect(() => mailDomainRecords({ ...spec(["198.51.100.300"]) })).toThrow(/"198.51.100.300" is not an IPv4 address/);
    expect(() => mailDomainRecords({ ...spec(["198.51.100.11"]), mailHost: "mx9.acme-mail.com" })).toThrow(
      /mail host mx9.acme-mail.com is not among the hosts/,
    );
    expect(() => dmarcRecord("a.example", "rejct" as never, "d@a.example")).toThrow(
      /policy must be none, quarantine or reject, not "rejct"/,
    );
    expect(() => mailDomainRecords({ ...spec(["198.51.100.11"]), dkim: { selector: "pm1", publicKeyBase64: "not base64!" } })).toThrow(
      /must be base64/,
    );
  });
});
