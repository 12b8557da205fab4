/**
 * The tenant program's judgement: is the stack's config one the program may build? Pure: it is
 * given every value (the stack's config as read, the price book, the environment) and calls
 * nothing, so test/unit/stack-judge.test.ts checks each refusal without an engine. A refusal is
 * the lines the program stops with (components/stop-run.ts), each naming the stack; the program
 * never registers a resource before a verdict is in.
 */
import type { Settings } from "../providers/hostwinds/settings";
import { SettingsError, readSettings } from "../providers/hostwinds/settings";
import { BackupConfigError } from "../components/backup-scripts";
import { BackupSettings, parseBackupSettings, repositoryHasPassword } from "../components/mailu-backup";
import type { PriceBook } from "../providers/model/pricing";
import { Problem, Tenant, TenantConfigError, limitProblems, parseTenant, problemLines, rawTenantValue } from "../providers/model/tenant";

/** Config keys that must be secret config when set (never plain text in Pulumi.<stack>.yaml). */
export const SECRET_KEYS = ["hostwinds:apiKey", "cloudflare:apiToken", "penguinmails-infra:sshPrivateKey", "penguinmails-infra:backupEnv"];

/** What the program read from the stack before judging it: values only, nothing to call. */
export interface StackConfig {
  stack: string;
  /** `penguinmails-infra:tenant` as written in the stack's config (JSON text), if set. */
  tenant: string | undefined;
  /** Any config key by its full name (`hostwinds:apiKey`), as the language host gives it. */
  config: (key: string) => string | undefined;
  /** The keys the stack's config holds encrypted. */
  secretKeys: string[];
  env: NodeJS.ProcessEnv;
}

/** The program may go on (with what it judged), or must stop with these lines. */
export type Verdict<T> = ({ ok: true } & T) | { ok: false; lines: string[] };

const plural = (n: number) => (n > 1 ? "s" : "");

/** The stop lines of the config-alone and account checks: each line and the summary name the stack. */
function refusal(stack: string, lines: string[], what: string): { ok: false; lines: string[] } {
  return {
    ok: false,
    lines: [...lines.map((l) => `stack ${stack}: ${l}`), `stack ${stack}: ${what}; nothing was bought or created`],
  };
}

/**
 * Step 1, the config alone (no call to anything), in the order a user fixes it: the tenant's shape
 * and cross-field rules, its tier's limits and budget, secrets in plain text, the Hostwinds settings.
 */
export function judgeConfig(
  s: StackConfig,
  book: PriceBook,
): Verdict<{ raw: unknown; tenant: Tenant; settings: Settings; ipPriceSetting: string | undefined }> {
  const ipPriceSetting = s.config("hostwinds:ipMonthlyPriceUsd") ?? s.env.HOSTWINDS_IP_MONTHLY_PRICE_USD;
  const raw = rawTenantValue(s.tenant);
  let tenant: Tenant;
  try {
    tenant = parseTenant(s.stack, raw, book);
  } catch (e) {
    if (!(e instanceof TenantConfigError)) throw e;
    return refusal(s.stack, e.lines, `${e.lines.length} problem${plural(e.lines.length)} in the tenant config (above)`);
  }
  const overLimits = problemLines(raw, limitProblems(tenant, book, ipPriceSetting));
  if (overLimits.length)
    return refusal(
      s.stack,
      overLimits,
      `the tenant config is over its ${tenant.tier} tier's limits or its budget (above), refused by the program`,
    );
  for (const key of SECRET_KEYS) {
    if (s.config(key) !== undefined && !s.secretKeys.includes(key)) {
      return refusal(
        s.stack,
        [`${key} is in plain text in the stack's config; run \`pulumi config set --secret ${key} <value> --stack ${s.stack}\``],
        key,
      );
    }
  }
  let settings: Settings;
  try {
    settings = readSettings(s.config, s.env);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    return refusal(s.stack, [e.message], "the Hostwinds settings are wrong (above)");
  }
  return { ok: true, raw, tenant, settings, ipPriceSetting };
}

/**
 * Step 2, the config against the Hostwinds account: the problems `accountProblems` found, or the
 * error that kept it from reading the account (then the config is unchecked and nothing is built).
 */
export function judgeAccount(stack: string, raw: unknown, found: { problems: Problem[] } | { error: Error }): Verdict<object> {
  if ("error" in found)
    return refusal(stack, [`could not read the Hostwinds account to check the config: ${found.error.message}`], "the config is unchecked");
  const lines = problemLines(raw, found.problems);
  if (lines.length)
    return refusal(
      stack,
      lines,
      `${lines.length} problem${plural(lines.length)} in the tenant config against the Hostwinds account (above)`,
    );
  return { ok: true };
}

/**
 * Step 3, backups of every server's MailU data (components/mailu-backup.ts), when the stack names a
 * repository (`penguinmails-infra:backup`): its settings, and no password in plain text.
 */
export function judgeBackup(
  stack: string,
  backupConfig: unknown,
  backupEnvConfig: unknown,
  secretKeys: string[],
): Verdict<{ backup?: { settings: BackupSettings; env: Record<string, string> } }> {
  if (backupConfig === undefined) return { ok: true };
  let backup: { settings: BackupSettings; env: Record<string, string> };
  try {
    backup = parseBackupSettings(stack, backupConfig, backupEnvConfig);
  } catch (e) {
    if (!(e instanceof BackupConfigError)) throw e;
    return { ok: false, lines: [`${e.message}. Nothing was created.`] };
  }
  if (repositoryHasPassword(backup.settings.repository) && !secretKeys.includes("penguinmails-infra:backup"))
    return {
      ok: false,
      lines: [
        `stack ${stack}: penguinmails-infra:backup.repository has a password in its URL and is in plain text; set it with \`pulumi config set --secret --path backup.repository <url> --stack ${stack}\`. Nothing was created.`,
      ],
    };
  return { ok: true, backup };
}
