/** The parsing behind `verify`: SPF, DMARC, DKIM, blocklist answers, TXT splitting. */
import { generateKeyPairSync } from "crypto";
import { blocklistVerdict, checkDkim, checkDmarc, checkSpf } from "../../scripts/cli/verify/mail-auth";
import { txtStrings } from "../../scripts/dev/standins/dns";
import { renderTable } from "../../scripts/cli/verify/result";

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
});
