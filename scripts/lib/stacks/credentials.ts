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
import { parse } from "yaml";
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

/** The accounts a tenant's stack config names (plain config keys; "default" when unset). */
export function tenantAccounts(p: FleetProject, tenant: string): { hostwinds: string; cloudflare: string } {
  const file = path.join(p.root, p.stacksDir, `Pulumi.${tenant}.yaml`);
  let config: Record<string, unknown> = {};
  try {
    config = ((parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined)?.config ?? {}) as Record<
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
