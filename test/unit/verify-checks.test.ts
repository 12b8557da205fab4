/** The parsing behind `verify`: SPF, DMARC, DKIM, blocklist answers, TXT splitting, MTA-STS, relay HELO, report addresses. */
import { generateKeyPairSync } from "crypto";
import { blocklistVerdict, checkDkim, checkDmarc, checkSpf, reportUris } from "../../scripts/lib/verify/mail-auth";
import { judgeMtaSts, mxMatches, parseMtaStsPolicy, parseMtaStsTxt } from "../../scripts/lib/verify/mta-sts";
import { PtrAnswer, judgeHelo, parseRelayTransports } from "../../scripts/lib/verify/relay";
import { mtaStsId, mtaStsPolicy } from "../../components/mail-records";
import { mtaStsOverride } from "../../components/mailu-files";
import { relayMasterCf } from "../../components/outbound-relay";
import { mtaStsAnswer, nginxUnquote } from "../../scripts/dev/standins/mailu-front";
import { txtStrings } from "../../scripts/dev/standins/dns";
import { renderTable } from "../../scripts/lib/verify/result";

describe("verify checks", () => {
  test("SPF: covers each IP by address or range, refuses +all, counts lookups", () => {
    expect(checkSpf("v=spf1 mx ip4:198.51.0.11 ip4:198.51.0.12 -all", ["198.51.0.11", "198.51.0.12"])).toEqual({
      ok: true,
      problems: [],
      lookups: 1,
    });
    expect(checkSpf("v=spf1 ip4:198.51.0.0/24 ~all", ["198.51.0.200"]).ok).toBe(true);
    expect(checkSpf("v=spf1 mx ip4:198.51.0.11 -all", ["198.51.0.11", "198.51.0.12"]).problems).toEqual([
      "does not cover sending IP 198.51.0.12",
    ]);
    expect(checkSpf("v=spf1 +all", []).problems).toEqual(["ends in +all: anyone may send as the domain"]);
    const many = `v=spf1 ${Array.from({ length: 11 }, (_, i) => `include:s${i}.example.com`).join(" ")} -all`;
    expect(checkSpf(many, []).problems).toEqual(["needs 11 DNS lookups, over the limit of 10"]);
    expect(checkSpf(undefined, []).problems).toEqual(["no SPF record (TXT v=spf1) at the domain"]);
  });

  test("DMARC: version first, a known policy, mailto reports", () => {
    expect(checkDmarc("v=DMARC1; p=quarantine; rua=mailto:dmarc@acme-mail.com")).toEqual({ ok: true, problems: [], policy: "quarantine" });
    expect(checkDmarc("v=DMARC1; p=rejekt; rua=dmarc@acme-mail.com").problems).toEqual([
      'p must be none, quarantine or reject, found "rejekt"',
      'rua must be mailto: addresses, found "dmarc@acme-mail.com"',
    ]);
    expect(checkDmarc("v=DMARC1; p=none").problems).toEqual(["no rua: aggregate reports go nowhere"]);
  });

  test("DKIM: an RSA key of 1024 bits or more, equal to the stack's record", () => {
    const pub = (bits: number) =>
      generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
    const rec = `v=DKIM1; k=rsa; p=${pub(2048)}`;
    expect(checkDkim(rec, rec)).toEqual({ ok: true, problems: [], bits: 2048 });
    expect(checkDkim(rec, `v=DKIM1; k=rsa; p=${pub(1024)}`).problems).toEqual(["differs from the key the stack made"]);
    expect(checkDkim("v=DKIM1; k=rsa; p=AAAA", undefined).problems).toEqual(["p= is not a public key"]);
  });

  test("blocklist answers: NXDOMAIN not listed, 127.0.0.x listed, 127.255.255.x and errors unknown", () => {
    expect(blocklistVerdict("NXDOMAIN")).toBe("not listed");
    expect(blocklistVerdict(["127.0.0.2"])).toBe("listed");
    expect(blocklistVerdict(["127.0.0.4", "127.0.0.10"])).toBe("listed");
    for (const a of [["127.255.255.252"], ["127.255.255.254"], ["127.255.255.255"]]) expect(blocklistVerdict(a)).toBe("unknown");
    expect(blocklistVerdict(new Error("ETIMEOUT"))).toBe("unknown");
  });

  test("long TXT values travel as 255-byte strings and join back", () => {
    const v = `v=DKIM1; k=rsa; p=${"A".repeat(600)}`;
    const parts = txtStrings(v);
    expect(parts.map((p) => p.length)).toEqual([255, 255, v.length - 510]);
    expect(parts.join("")).toBe(v);
  });

  test("the table: a header, one line per check, the counts", () => {
    const t = renderTable([
      { check: "spf", subject: "acme-mail.com", status: "pass", detail: "ok" },
      { check: "smtp", subject: "mx1:25", status: "fail", detail: "no" },
    ]);
    expect(t.split("\n")).toEqual([
      "check  subject        result   detail",
      "spf    acme-mail.com  PASS     ok",
      "smtp   mx1:25         FAIL     no",
      "",
      "1 pass, 1 fail, 0 warn, 0 unknown",
    ]);
  });

  describe("MTA-STS", () => {
    const policy = mtaStsPolicy(["mx1.acme-mail.com"]);
    const txt = [`v=STSv1; id=${mtaStsId(policy)}`];

    test("the policy parses (RFC 8461 §3.2): CRLF or LF, mx repeated, unknown keys ignored", () => {
      expect(parseMtaStsPolicy(policy)).toEqual({
        policy: { version: "STSv1", mode: "enforce", maxAge: 604800, mx: ["mx1.acme-mail.com"] },
        problems: [],
      });
      expect(parseMtaStsPolicy("version: STSv1\nmode: testing\nmx: a.example\nmx: *.b.example\nfoo: bar\nmax_age: 86400\n").policy).toEqual(
        {
          version: "STSv1",
          mode: "testing",
          maxAge: 86400,
          mx: ["a.example", "*.b.example"],
        },
      );
      expect(parseMtaStsPolicy("version: STSv2\nmode: strict\nmax_age: 99999999\n").problems).toEqual([
        'version must be STSv1, found "STSv2"',
        'mode must be enforce, testing or none, found "strict"',
        "max_age must be a whole number of seconds up to 31557600",
        "no mx line: senders could deliver nowhere",
      ]);
      expect(parseMtaStsPolicy("<html>404</html>").problems[0]).toBe('line "<html>404</html>" is not "key: value"');
    });

    test("the TXT (§3.1): exactly one v=STSv1 record with an id of 1-32 letters and digits", () => {
      expect(parseMtaStsTxt(["v=spf1 -all", "v=STSv1; id=abc123"])).toEqual({ id: "abc123", problems: [] });
      expect(parseMtaStsTxt([]).problems).toEqual(["no TXT record starting v=STSv1 at _mta-sts"]);
      expect(parseMtaStsTxt(["v=STSv1; id=a", "v=STSv1; id=b"]).problems).toEqual([
        "2 TXT records starting v=STSv1 at _mta-sts: senders ignore them all",
      ]);
      expect(parseMtaStsTxt(["v=STSv1; id=not-alnum"]).problems).toEqual(['id must be 1 to 32 letters and digits, found "not-alnum"']);
    });

    test("mx patterns (§4.1): exact names, and *. matching one more leftmost label only", () => {
      expect(mxMatches("mx1.acme-mail.com", "MX1.acme-mail.com.")).toBe(true);
      expect(mxMatches("*.acme-mail.com", "mx1.acme-mail.com")).toBe(true);
      expect(mxMatches("*.acme-mail.com", "a.mx1.acme-mail.com")).toBe(false);
      expect(mxMatches("*.acme-mail.com", "acme-mail.com")).toBe(false);
    });

    test("judged: pass; an MX the policy lacks; an id that is not the served policy's; a fetch that failed", () => {
      expect(judgeMtaSts({ txt, fetched: { body: policy }, mxHosts: ["mx1.acme-mail.com"] })).toEqual({
        ok: true,
        problems: [],
        summary: `mode enforce, mx mx1.acme-mail.com, max_age 604800 s; id ${mtaStsId(policy)} matches the policy served`,
      });
      expect(judgeMtaSts({ txt, fetched: { body: policy }, mxHosts: ["mx2.acme-mail.com"] }).problems).toEqual([
        "MX mx2.acme-mail.com not among the policy's mx (mx1.acme-mail.com): senders in enforce mode refuse to deliver there",
      ]);
      const changed = mtaStsPolicy(["mx1.acme-mail.com"], 86400);
      expect(judgeMtaSts({ txt, fetched: { body: changed }, mxHosts: ["mx1.acme-mail.com"] }).problems).toEqual([
        `the _mta-sts id ${mtaStsId(policy)} is not the served policy's (${mtaStsId(changed)}): the id must change whenever the policy does, or senders keep the old one (RFC 8461 §3.1)`,
      ]);
      expect(judgeMtaSts({ txt: [], fetched: { error: "cannot fetch it" }, mxHosts: [] }).problems).toEqual([
        "no TXT record starting v=STSv1 at _mta-sts",
        "cannot fetch it",
      ]);
    });

    test("the front stand-in serves exactly the policy the override file holds (nginx unescaping)", () => {
      expect(nginxUnquote('a\\r\\nb \\"q\\" \\\\ \\t')).toBe('a\r\nb "q" \\ \t');
      expect(mtaStsAnswer(mtaStsOverride(["mx1.acme-mail.com"]))).toEqual({ type: "text/plain", body: policy });
      expect(mtaStsAnswer(undefined)).toBeUndefined();
      expect(mtaStsAnswer("location / { return 404; }")).toBeUndefined();
    });
  });

  describe("HELO = PTR from the relay's master.cf", () => {
    const sending = [
      { slot: "mx1-ip1", ip: "198.51.100.11", hostname: "mx1-ip1.acme-mail.com" },
      { slot: "mx1-ip2", ip: "198.51.100.12", hostname: "mx1-ip2.acme-mail.com" },
    ];
    // `postconf -P` prints master.cf's -o settings as service/type/parameter = value (postconf(1)).
    const postconfP = [
      "pm-mx1-ip1/unix/smtp_bind_address = 198.51.100.11",
      "pm-mx1-ip1/unix/smtp_helo_name = mx1-ip1.acme-mail.com",
      "pm-mx1-ip1/unix/syslog_name = postfix/pm-mx1-ip1",
      "pm-mx1-ip2/unix/smtp_bind_address = 198.51.100.12",
      "pm-mx1-ip2/unix/smtp_helo_name = mx1-ip2.acme-mail.com",
      "smtp/inet/smtpd_tls_security_level = may",
    ].join("\n");
    const ptr: Record<string, string[]> = { "198.51.100.11": ["mx1-ip1.acme-mail.com."], "198.51.100.12": ["mx1-ip2.acme-mail.com"] };
    const ptrOf = (ip: string): PtrAnswer => ptr[ip] ?? "NXDOMAIN";

    test("our transports are read from postconf -P; the relay's master.cf holds one per IP", () => {
      expect(parseRelayTransports(postconfP)).toEqual([
        { name: "pm-mx1-ip1", bind: "198.51.100.11", helo: "mx1-ip1.acme-mail.com" },
        { name: "pm-mx1-ip2", bind: "198.51.100.12", helo: "mx1-ip2.acme-mail.com" },
      ]);
      const master = relayMasterCf({ hostname: "mx1.acme-mail.com", sending, standby: [] });
      expect(master).toContain("-o smtp_bind_address=198.51.100.11");
      expect(master).toContain("-o smtp_helo_name=mx1-ip1.acme-mail.com");
    });

    test("pass when HELO is the PTR; a wrong HELO, a missing PTR, an IP without a transport and the main IP fail", () => {
      const lines = (text: string, p = ptrOf, ips = sending) =>
        judgeHelo("mx1.acme-mail.com", parseRelayTransports(text), ips, "198.51.100.1", p).map(
          (r) => `${r.subject} ${r.status}: ${r.detail}`,
        );
      expect(lines(postconfP)).toEqual([
        "pm-mx1-ip1 198.51.100.11 pass: HELO mx1-ip1.acme-mail.com = PTR of 198.51.100.11",
        "pm-mx1-ip2 198.51.100.12 pass: HELO mx1-ip2.acme-mail.com = PTR of 198.51.100.12",
      ]);
      expect(lines(postconfP.replace("helo_name = mx1-ip2", "helo_name = mx1"))[1]).toBe(
        "pm-mx1-ip2 198.51.100.12 fail: HELO mx1.acme-mail.com, but the PTR of 198.51.100.12 is mx1-ip2.acme-mail.com",
      );
      expect(lines(postconfP, (ip) => (ip === "198.51.100.12" ? "NXDOMAIN" : ptrOf(ip)))[1]).toBe(
        "pm-mx1-ip2 198.51.100.12 fail: HELO mx1-ip2.acme-mail.com, but the PTR of 198.51.100.12 is missing (NXDOMAIN)",
      );
      expect(lines(postconfP, ptrOf, [...sending, { slot: "mx1-ip3", ip: "198.51.100.13", hostname: "mx1-ip3.acme-mail.com" }])[2]).toBe(
        "198.51.100.13 fail: mx1.acme-mail.com: no relay transport binds 198.51.100.13 (mx1-ip3.acme-mail.com); its domains cannot leave from it",
      );
      expect(lines(postconfP.replace("= 198.51.100.12", "= 198.51.100.1"))[1]).toBe(
        "pm-mx1-ip2 198.51.100.1 fail: mx1.acme-mail.com: transport pm-mx1-ip2 binds the main IP 198.51.100.1: mail must never leave from it",
      );
    });
  });

  test("report addresses: DMARC rua/ruf and TLS-RPT rua mailto: URIs, size suffixes and %-escapes undone, https apart", () => {
    expect(reportUris("v=DMARC1; p=none; rua=mailto:dmarc-reports@acme-mail.com; fo=1", ["rua"])).toEqual({
      mailto: ["dmarc-reports@acme-mail.com"],
      other: [],
    });
    expect(
      reportUris("v=DMARC1; p=reject; rua=mailto:a@x.example!10m, mailto:B%2Bc@y.example; ruf=mailto:f@x.example", ["rua", "ruf"]),
    ).toEqual({
      mailto: ["a@x.example", "b+c@y.example", "f@x.example"],
      other: [],
    });
    expect(reportUris("v=TLSRPTv1; rua=mailto:tls-reports@acme-mail.com,https://reports.example/tls", ["rua"])).toEqual({
      mailto: ["tls-reports@acme-mail.com"],
      other: ["https://reports.example/tls"],
    });
    expect(reportUris(undefined, ["rua"])).toEqual({ mailto: [], other: [] });
  });
});
