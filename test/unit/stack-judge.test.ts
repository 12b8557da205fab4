/** The tenant program's judgement (stacks/judge.ts): each refusal, its lines and their order, without an engine. */
import { SECRET_KEYS, StackConfig, judgeAccount, judgeBackup, judgeConfig } from "../../stacks/judge";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { validTenant } from "../fixtures/tenant";

const tenant = (over: Record<string, unknown> = {}) => JSON.stringify(validTenant(over));

const stack = (over: Partial<StackConfig> = {}, config: Record<string, string> = {}): StackConfig => ({
  stack: "acme",
  tenant: tenant(),
  config: (k) => ({ "hostwinds:apiKey": "a-key-long-enough", ...config })[k],
  secretKeys: ["hostwinds:apiKey"],
  env: {},
  ...over,
});

const lines = (v: { ok: boolean; lines?: string[] }) => (v.ok ? [] : v.lines!);

describe("the tenant program's judgement", () => {
  test("a valid tenant with its settings goes on, with the tenant parsed and the settings' defaults", () => {
    const v = judgeConfig(stack(), defaultPriceBook());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.tenant.id).toBe("acme");
    expect(v.settings).toMatchObject({ apiKey: "a-key-long-enough", requestsPerSecond: 2 });
    expect(v.ipPriceSetting).toBeUndefined();
  });

  test("shape problems: one line each naming the stack, then the count; nothing else is judged", () => {
    const v = judgeConfig(stack({ tenant: tenant({ tier: "huge", zone: undefined }), secretKeys: [] }), defaultPriceBook());
    const l = lines(v);
    expect(l.length).toBe(3);
    expect(l.slice(0, 2).every((x) => x.startsWith("stack acme: tenant."))).toBe(true);
    expect(l[2]).toBe("stack acme: 2 problems in the tenant config (above); nothing was bought or created");
  });

  test("no tenant at all is one problem", () => {
    expect(lines(judgeConfig(stack({ tenant: undefined }), defaultPriceBook())).at(-1)).toBe(
      "stack acme: 1 problem in the tenant config (above); nothing was bought or created",
    );
  });

  test("over the tier's limits: refused by the program", () => {
    const l = lines(judgeConfig(stack({ tenant: tenant({ monthlyBudgetUsd: 5 }) }), defaultPriceBook()));
    expect(l.at(-1)).toBe(
      "stack acme: the tenant config is over its starter tier's limits or its budget (above), refused by the program; nothing was bought or created",
    );
  });

  test.each(SECRET_KEYS)("%s in plain text is refused with the command that fixes it", (key) => {
    const l = lines(judgeConfig(stack({ secretKeys: SECRET_KEYS.filter((k) => k !== key) }, { [key]: "x" }), defaultPriceBook()));
    expect(l).toEqual([
      `stack acme: ${key} is in plain text in the stack's config; run \`pulumi config set --secret ${key} <value> --stack acme\``,
      `stack acme: ${key}; nothing was bought or created`,
    ]);
  });

  test("wrong Hostwinds settings: the settings' own message, from config or the environment", () => {
    const l = lines(judgeConfig(stack({ env: { HOSTWINDS_REQUEST_TIMEOUT_MS: "5" } }), defaultPriceBook()));
    expect(l[0]).toMatch(/^stack acme: Hostwinds provider settings: environment HOSTWINDS_REQUEST_TIMEOUT_MS must be at least 100/);
    expect(l[1]).toBe("stack acme: the Hostwinds settings are wrong (above); nothing was bought or created");
  });

  test("the IP price: config wins over the environment", () => {
    const v = judgeConfig(
      stack({ env: { HOSTWINDS_IP_MONTHLY_PRICE_USD: "3" } }, { "hostwinds:ipMonthlyPriceUsd": "5" }),
      defaultPriceBook(),
    );
    expect(v.ok && v.ipPriceSetting).toBe("5");
  });

  test("against the account: problems in config terms, or the config unchecked when the account cannot be read", () => {
    expect(judgeAccount("acme", {}, { problems: [] })).toEqual({ ok: true });
    expect(lines(judgeAccount("acme", {}, { error: new Error("HTTP 500") }))).toEqual([
      "stack acme: could not read the Hostwinds account to check the config: HTTP 500",
      "stack acme: the config is unchecked; nothing was bought or created",
    ]);
    const raw = JSON.parse(tenant());
    const l = lines(judgeAccount("acme", raw, { problems: [{ path: ["servers", 0, "plan"], message: "not sold here" }] }));
    expect(l).toEqual([
      "stack acme: tenant.servers[0].plan: not sold here, found 101",
      "stack acme: 1 problem in the tenant config against the Hostwinds account (above); nothing was bought or created",
    ]);
  });

  test("backups: none asked for, settings checked, and a password in a plain-text repository URL refused", () => {
    expect(judgeBackup("acme", undefined, undefined, [])).toEqual({ ok: true });
    const ok = judgeBackup("acme", { repository: "s3:s3.example.com/b" }, { AWS_ACCESS_KEY_ID: "k" }, []);
    expect(ok.ok && ok.backup?.settings.schedule).toBe("*-*-* 03:00:00");
    expect(lines(judgeBackup("acme", { repository: "nowhere" }, undefined, []))[0]).toMatch(
      /^stack acme: penguinmails-infra:backup\.repository: must be a restic repository URL .*\. Nothing was created\.$/,
    );
    const url = { repository: "rest:https://u:pw@backup.example.com/" };
    expect(lines(judgeBackup("acme", url, undefined, []))[0]).toMatch(/has a password in its URL and is in plain text/);
    expect(judgeBackup("acme", url, undefined, ["penguinmails-infra:backup"]).ok).toBe(true);
  });
});
