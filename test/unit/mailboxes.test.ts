/**
 * Mailboxes without the engine: the config schema and its refusals (naming the field), the tier's
 * limit in the schema, the service's judge and the policy pack, the diff that decides what one
 * apply sends (a change of one of 250 sends one), MailU's import document, the requests as config
 * changes, and the sealing of a password until it is read once.
 */
import { parse } from "yaml";
import { TenantConfigError, limitProblems, parseTenant } from "../../providers/model/tenant";
import { MailboxState, localPartProblem, mailboxStates, planMailboxes } from "../../providers/model/mailboxes";
import { importDocument } from "../../providers/ssh/mailboxes";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { RequestRejected, changeTenant, judgeTenant } from "../../service/requests";
import { declaredPlanWithinLimits, TENANT_PLAN } from "../../policies/rules";
import { mailboxSettings, seal, unseal } from "../../service/credentials";
import { validTenant } from "../fixtures/tenant";
import { randomBytes } from "crypto";
import { execFileSync } from "child_process";
import { mailboxImportScript } from "../../components/mailu-scripts";

const book = defaultPriceBook();
const problems = (raw: unknown): string[] => {
  try {
    parseTenant("t", raw, book);
    return [];
  } catch (e) {
    if (e instanceof TenantConfigError) return e.lines;
    throw e;
  }
};
const withBoxes = (boxes: unknown[], over: Record<string, unknown> = {}) =>
  validTenant({ domains: [{ name: "acme-mail.com", mailboxes: boxes }], ...over });

/** 50 domains × 5 mailboxes, as the scale case names them. */
const fleet = (): MailboxState[] =>
  Array.from({ length: 50 }, (_, d) =>
    Array.from({ length: 5 }, (_, k) => ({ email: `user${k}@d${d}.example.com`, quotaBytes: 1024 * 1024 * 1024, enabled: true })),
  ).flat();
const passwordsOf = (boxes: MailboxState[], tag = "") =>
  Object.fromEntries(boxes.map((m) => [m.email, `pw${tag}${m.email.length}x${m.email}`]));

describe("mailbox config", () => {
  test("defaults: 1024 MB, enabled, rotation 0; addresses per domain", () => {
    const t = parseTenant("t", withBoxes([{ localPart: "sales" }]), book);
    expect(t.domains[0].mailboxes).toEqual([{ localPart: "sales", quotaMb: 1024, enabled: true, rotation: 0 }]);
    expect(mailboxStates(t.domains)).toEqual([{ email: "sales@acme-mail.com", quotaBytes: 1024 ** 3, enabled: true, rotation: 0 }]);
  });

  test.each([
    ["Sales", "lowercase"],
    ["a b", "dot-separated"],
    ["a..b", "dot-separated"],
    [".a", "dot-separated"],
    ["a@b", "dot-separated"],
    ['"q"', "dot-separated"],
    ["x".repeat(65), "at most 64"],
    ["admin", "the stack does not use itself"],
    ["dmarc-reports", "the stack does not use itself"],
  ])("a local part MailU (or the stack) refuses: %s", (local, why) => {
    expect(localPartProblem(local)).toContain(why);
    expect(problems(withBoxes([{ localPart: local }]))).toEqual([
      expect.stringMatching(/^tenant\.domains\[0\]\.mailboxes\[0\]\.localPart: expected/),
    ]);
  });

  test("MailU's dot-atom characters are taken", () => {
    for (const ok of ["a", "first.last", "x+tag", "o'neil", "a_b-c", "1"]) expect(localPartProblem(ok)).toBeUndefined();
  });

  test("each mistake names its field: quota, enabled, unknown key, a local part twice", () => {
    expect(
      problems(
        withBoxes([
          { localPart: "a", quotaMb: 0 },
          { localPart: "b", enabled: "yes" },
          { localPart: "c", password: "x" },
          { localPart: "a" },
        ]),
      ),
    ).toEqual([
      expect.stringMatching(/^tenant\.domains\[0\]\.mailboxes\[0\]\.quotaMb: expected at least 1 MB/),
      expect.stringMatching(/^tenant\.domains\[0\]\.mailboxes\[1\]\.enabled: expected true or false/),
      expect.stringMatching(/^tenant\.domains\[0\]\.mailboxes\[2\]\.password: unknown key/),
      expect.stringMatching(/^tenant\.domains\[0\]\.mailboxes\[3\]\.localPart: expected a local part not listed before/),
    ]);
  });

  test("the tier's mailbox limit: starter 25, refused naming the count and what to do", () => {
    const boxes = Array.from({ length: 26 }, (_, i) => ({ localPart: `u${i}` }));
    const t = parseTenant("t", withBoxes(boxes), book);
    expect(limitProblems(t, book)).toEqual([
      expect.objectContaining({ path: ["domains"], found: "26", message: expect.stringContaining("at most 25 mailboxes") }),
    ]);
    expect(limitProblems(parseTenant("t", withBoxes(boxes.slice(0, 25)), book), book)).toEqual([]);
  });

  test("the policy pack refuses a plan over the limit, and config can raise it", () => {
    const plan = {
      type: TENANT_PLAN,
      urn: "urn:plan",
      name: "tenant",
      props: { tenant: "acme", tier: "starter", monthlyBudgetUsd: 25, mailboxes: 26 },
    };
    expect(declaredPlanWithinLimits(plan)).toEqual([
      expect.objectContaining({ message: expect.stringContaining("26 mailboxes, the starter tier allows 25") }),
    ]);
    expect(declaredPlanWithinLimits(plan, { tiers: { starter: { maxMailboxes: 30 } } })).toEqual([]);
    expect(declaredPlanWithinLimits({ ...plan, props: { ...plan.props, mailboxes: undefined } })).toEqual([]);
  });
});

describe("mailbox plan (what one apply sends to MailU)", () => {
  test("250 mailboxes created: one plan with all of them, no removal", () => {
    const boxes = fleet();
    const p = planMailboxes([], {}, boxes, passwordsOf(boxes));
    expect(p.upsert).toHaveLength(250);
    expect(p.remove).toEqual([]);
    const doc = parse(importDocument(p)) as { user: Array<Record<string, unknown>> };
    expect(doc.user).toHaveLength(250);
    expect(doc.user[0]).toEqual({
      email: "user0@d0.example.com",
      password: expect.any(String),
      hash_password: true,
      quota_bytes: 1024 ** 3,
      enabled: true,
    });
  });

  test("one of 250 changed (quota, enabled or password): only that one is sent", () => {
    const boxes = fleet();
    const pw = passwordsOf(boxes);
    const quota = boxes.map((m, i) => (i === 7 ? { ...m, quotaBytes: 2 * m.quotaBytes } : m));
    expect(planMailboxes(boxes, pw, quota, pw).upsert.map((m) => m.email)).toEqual([boxes[7].email]);
    const off = boxes.map((m, i) => (i === 9 ? { ...m, enabled: false } : m));
    expect(planMailboxes(boxes, pw, off, pw)).toEqual({ upsert: [{ ...off[9], password: pw[off[9].email] }], remove: [] });
    const rotated = { ...pw, [boxes[3].email]: "another-password" };
    expect(planMailboxes(boxes, pw, boxes, rotated).upsert).toEqual([{ ...boxes[3], password: "another-password" }]);
    expect(planMailboxes(boxes, pw, boxes, pw)).toEqual({ upsert: [], remove: [] });
  });

  test("a mailbox gone is removed with MailU's delete notation", () => {
    const boxes = fleet().slice(0, 3);
    const pw = passwordsOf(boxes);
    const p = planMailboxes(boxes, pw, boxes.slice(1), pw);
    expect(p).toEqual({ upsert: [], remove: [boxes[0].email] });
    expect(parse(importDocument(p))).toEqual({ user: [{ "-email": boxes[0].email }] });
  });

  test("the import script: valid bash, the document from stdin only, MailU's update mode through docker exec -i", () => {
    const script = mailboxImportScript();
    execFileSync("bash", ["-n"], { input: script });
    expect(script).toContain('doc="$(cat)"');
    expect(script).toMatch(/printf '%s\\n' "\$doc" \| docker exec -i "\$admin_id" flask mailu config-import -u -q -/);
    expect(script).not.toMatch(/mktemp|> *\/tmp/);
  });

  test("any text stays one YAML scalar (quotes, colons, a hash)", () => {
    const p = { upsert: [{ email: "o'neil#x@a.example", quotaBytes: 1, enabled: false, password: 'a: "b" #c' }], remove: [] };
    expect((parse(importDocument(p)) as { user: Array<{ email: string; password: string }> }).user[0]).toMatchObject({
      email: "o'neil#x@a.example",
      password: 'a: "b" #c',
    });
  });
});

describe("mailbox requests", () => {
  const base = parseTenant("acme", withBoxes([{ localPart: "sales" }], { tier: "growth" }), book);

  test("add, change, remove, rotate: each the one change a person would make", () => {
    const added = changeTenant(base, "add_mailbox", { domain: "acme-mail.com", localPart: "ops", quotaMb: 50 }, []);
    expect(added.domains[0].mailboxes[1]).toEqual({ localPart: "ops", quotaMb: 50, enabled: true, rotation: 0 });
    const changed = changeTenant(base, "change_mailbox", { address: "sales@acme-mail.com", enabled: false }, []);
    expect(changed.domains[0].mailboxes[0]).toMatchObject({ enabled: false, quotaMb: 1024 });
    expect(changeTenant(base, "remove_mailbox", { address: "sales@acme-mail.com" }, []).domains[0].mailboxes).toEqual([]);
    expect(changeTenant(base, "rotate_mailbox", { address: "sales@acme-mail.com" }, []).domains[0].mailboxes[0].rotation).toBe(1);
    expect(base.domains[0].mailboxes[0].rotation).toBe(0);
  });

  test("refused: a domain the tenant lacks, a mailbox twice, one that is not there, a bad local part", () => {
    expect(() => changeTenant(base, "add_mailbox", { domain: "other.com", localPart: "x" }, [])).toThrow(/has no domain other.com/);
    expect(() => changeTenant(base, "add_mailbox", { domain: "acme-mail.com", localPart: "sales" }, [])).toThrow(/already/);
    expect(() => changeTenant(base, "rotate_mailbox", { address: "nobody@acme-mail.com" }, [])).toThrow(RequestRejected);
    expect(() => changeTenant(base, "add_mailbox", { domain: "acme-mail.com", localPart: "Bad Name" }, [])).toThrow(/lowercase/);
  });

  test("the judge refuses more mailboxes than the tier allows, with the pack's words", () => {
    const many = validTenant({
      domains: [{ name: "acme-mail.com", mailboxes: Array.from({ length: 26 }, (_, i) => ({ localPart: `u${i}` })) }],
    });
    expect(() => judgeTenant("acme", many)).toThrow(/26 mailboxes, the starter tier allows 25/);
  });
});

describe("a password on its way to the platform", () => {
  test("sealed under the key and the request's id; another id or key cannot open it", () => {
    const key = randomBytes(32);
    const sealed = seal(key, "req-1", "s3cret-Passw0rd");
    expect(sealed.toString("latin1")).not.toContain("s3cret");
    expect(unseal(key, "req-1", sealed)).toBe("s3cret-Passw0rd");
    expect(() => unseal(key, "req-2", sealed)).toThrow();
    expect(() => unseal(randomBytes(32), "req-1", sealed)).toThrow();
  });

  test("the settings beside it: submission 587 STARTTLS and 465 TLS, IMAP 993", () => {
    expect(mailboxSettings("a@b.com", "mx1.b.com")).toEqual({
      username: "a@b.com",
      smtp: { host: "mx1.b.com", submission: { port: 587, security: "STARTTLS" }, submissions: { port: 465, security: "TLS" } },
      imap: { host: "mx1.b.com", port: 993, security: "TLS" },
    });
  });
});
