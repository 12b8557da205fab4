/**
 * The fleet's provider credentials. A fleet may be spread over several
 * Hostwinds accounts and Cloudflare tokens: the default ones are
 * HOSTWINDS_API_KEY and CLOUDFLARE_API_TOKEN; more are named in the
 * environment as HOSTWINDS_API_KEY__<ACCOUNT> and CLOUDFLARE_API_TOKEN__<ACCOUNT>,
 * and a tenant's stack config picks one with `penguinmails-infra:hostwindsAccount`
 * / `penguinmails-infra:cloudflareAccount` (plain names, never the secrets).
 */
import * as fs from "fs";
import * as path from "path";
import { load } from "js-yaml";
import { CloudflareClient, cloudflareSettings } from "../../../providers/cloudflare/client";
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { readSettings } from "../../../providers/hostwinds/settings";
import { InventorySources } from "./inventory";
import { budgetLimitFrom } from "../../../providers/lib/budget";
import { FleetProject } from "./tenants";

export interface Credential {
  /** "default" or the account's name. */
  account: string;
  secret: string;
}

function named(prefix: string, env: NodeJS.ProcessEnv): Credential[] {
  const out: Credential[] = [];
  if (env[prefix]) out.push({ account: "default", secret: env[prefix]! });
  for (const [k, v] of Object.entries(env))
    if (k.startsWith(`${prefix}__`) && v)
      out.push({
        account: k
          .slice(prefix.length + 2)
          .toLowerCase()
          .replace(/_/g, "-"),
        secret: v,
      });
  return out;
}

export const hostwindsKeys = (env: NodeJS.ProcessEnv = process.env) => named("HOSTWINDS_API_KEY", env);
export const cloudflareTokens = (env: NodeJS.ProcessEnv = process.env) => named("CLOUDFLARE_API_TOKEN", env);

/** Clients for every account and token in the environment, or undefined when there is none of either. */
export function fleetInventorySources(
  _project: FleetProject,
  _tenants: string[],
  env: NodeJS.ProcessEnv = process.env,
): InventorySources | undefined {
  const keys = hostwindsKeys(env);
  const tokens = cloudflareTokens(env);
  if (!keys.length && !tokens.length) return undefined;
  const hw = keys.length ? readSettings(() => undefined, { ...env, HOSTWINDS_API_KEY: keys[0].secret }) : undefined;
  const cf = cloudflareSettings(() => undefined, env);
  return {
    hostwinds: keys.map(
      (k) =>
        new HostwindsClient({
          apiKey: k.secret,
          apiUrl: hw!.apiUrl,
          // The per-URL limiter would make every account share one rate: each key has its own budget instead.
          requestsPerSecond: 0,
          requestTimeoutMs: hw!.requestTimeoutMs,
          budget:
            budgetLimitFrom(
              "HOSTWINDS_BUDGET",
              env.HOSTWINDS_BUDGET,
              hw!.requestsPerSecond > 0 ? { capacity: 10, perSecond: hw!.requestsPerSecond } : undefined,
            ) ?? null,
        }),
    ),
    cloudflare: tokens.map((t) => new CloudflareClient({ apiToken: t.secret, baseUrl: cf.baseUrl })),
  };
}

/** The accounts a tenant's stack config names (plain config keys; "default" when unset). */
export function tenantAccounts(p: FleetProject, tenant: string): { hostwinds: string; cloudflare: string } {
  const file = path.join(p.root, p.stacksDir, `Pulumi.${tenant}.yaml`);
  let config: Record<string, unknown> = {};
  try {
    config = ((load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined)?.config ?? {}) as Record<
      string,
      unknown
    >;
  } catch {
    // An unreadable config fails in the engine with its own message.
  }
  const pick = (k: string) =>
    typeof config[`penguinmails-infra:${k}`] === "string" ? String(config[`penguinmails-infra:${k}`]).toLowerCase() : "default";
  return { hostwinds: pick("hostwindsAccount"), cloudflare: pick("cloudflareAccount") };
}

/**
 * The environment a tenant's engine run gets: the default variables replaced by the named
 * account's, or an error naming the tenant and the variable to set.
 */
export function tenantCredentialEnv(p: FleetProject, tenant: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const a = tenantAccounts(p, tenant);
  const out: Record<string, string> = {};
  for (const [account, variable] of [
    [a.hostwinds, "HOSTWINDS_API_KEY"],
    [a.cloudflare, "CLOUDFLARE_API_TOKEN"],
  ] as const) {
    if (account === "default") continue;
    const name = `${variable}__${account.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
    if (!env[name])
      throw new Error(
        `tenant ${tenant}: its stack config names account "${account}", but ${name} is not set; set it to that account's credential`,
      );
    out[variable] = env[name]!;
  }
  return out;
}
