/**
 * The tenant program: one stack per tenant, in three steps. Read the stack's config; judge it
 * (stacks/judge.ts, pure: all problems at once, nothing created on any): the config alone first
 * (shape, tier limits, budget, settings), then against the Hostwinds account, then the backup
 * settings; build what it asks for (stacks/build.ts: the tenant's plan for policies, one
 * MailServer per server, DNS, MailU) and return the outputs a user and the pipeline read.
 */
import { assertFreshBuild } from "../providers/lib/fresh-build";
import * as pulumi from "@pulumi/pulumi";
import { stopRun } from "../components/stop-run";
import { HostwindsClient } from "../providers/hostwinds/client";
import { accountProblems } from "../providers/hostwinds/account-check";
import { backendFingerprint } from "../providers/hostwinds/inputs";
import { clientOptions } from "../providers/hostwinds/settings";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
import { StackConfig, judgeAccount, judgeBackup, judgeConfig } from "./judge";
import { buildTenant } from "./build";
import { CloudflareClient, cloudflareSettings } from "../providers/cloudflare/client";
import { domainZones, needsZoneList } from "../providers/model/zones";
import type { Tenant } from "../providers/model/tenant";

/**
 * Each sending domain's Cloudflare zone: named in the config, or found among the zones the token
 * can see (listed only when some domain needs it, so a stack whose zones the config settles asks nothing).
 */
async function judgeZones(read: StackConfig, tenant: Tenant): Promise<{ ok: true; zones: string[] } | { ok: false; lines: string[] }> {
  let visible: string[] = [];
  if (needsZoneList(tenant.domains, tenant.zone)) {
    try {
      visible = (await new CloudflareClient(cloudflareSettings(read.config, read.env)).zones()).map((z) => z.name);
    } catch (e) {
      return { ok: false, lines: [`stack ${read.stack}: cannot list the Cloudflare zones to place the domains: ${(e as Error).message}`] };
    }
  }
  const { zones, problems } = domainZones(tenant.id, tenant.domains, tenant.zone, visible);
  if (problems.length)
    return {
      ok: false,
      lines: [...problems.map((l) => `stack ${read.stack}: ${l}`), `stack ${read.stack}: nothing was bought or created`],
    };
  return { ok: true, zones };
}

/**
 * The keys the stack's config holds encrypted: the language host lists them for the program
 * (PULUMI_CONFIG_SECRET_KEYS); an inline program (scripts/lib/stacks/inline.ts) gets them in its
 * run's config store instead, which the SDK answers through `runtime.isConfigSecret` (internal, but
 * exported by runtime/config.js, and it reads the store either way).
 */
function secretConfigKeys(): string[] {
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  if (isSecret) return Object.keys(pulumi.runtime.allConfig()).filter((k) => isSecret(k));
  try {
    return JSON.parse(process.env.PULUMI_CONFIG_SECRET_KEYS || "[]") as string[];
  } catch {
    return [];
  }
}

function readStack(config: pulumi.Config): StackConfig {
  return {
    stack: pulumi.getStack(),
    tenant: config.get("tenant"),
    config: (k) => pulumi.runtime.getConfig(k),
    secretKeys: secretConfigKeys(),
    env: process.env,
  };
}

export = async () => {
  // An edit without `npm run build` would deploy the old code (Pulumi.yaml runs dist/): refuse it.
  assertFreshBuild("the tenant program", ["stacks", "components", "providers"]);
  const config = new pulumi.Config();
  const read = readStack(config);
  const judged = judgeConfig(read, defaultPriceBook());
  if (!judged.ok) return stopRun(judged.lines);
  // The config against the Hostwinds account: catalogue and servers read once, nothing bought.
  const found = await Promise.resolve()
    .then(() =>
      accountProblems(judged.tenant, read.stack, new HostwindsClient(clientOptions(judged.settings)), {
        project: pulumi.getProject(),
        backend: backendFingerprint(),
      }),
    )
    .then(
      (problems) => ({ problems }),
      (error: Error) => ({ error }),
    );
  const inAccount = judgeAccount(read.stack, judged.raw, found);
  if (!inAccount.ok) return stopRun(inAccount.lines);
  const backup = judgeBackup(read.stack, config.getObject("backup"), config.getObject("backupEnv"), read.secretKeys);
  if (!backup.ok) return stopRun(backup.lines);
  const zones = await judgeZones(read, judged.tenant);
  if (!zones.ok) return stopRun(zones.lines);
  return buildTenant(judged.tenant, {
    config,
    book: defaultPriceBook(),
    ipPriceSetting: judged.ipPriceSetting,
    backup: backup.backup,
    domainZones: zones.zones,
  });
};
