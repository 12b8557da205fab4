/**
 * The fleet's provider credentials. A fleet may be spread over several
 * Hostwinds accounts and Cloudflare tokens: the default ones are
 * HOSTWINDS_API_KEY and CLOUDFLARE_API_TOKEN; more are named in the
 * environment as HOSTWINDS_API_KEY__<ACCOUNT> and CLOUDFLARE_API_TOKEN__<ACCOUNT>,
 * and a tenant's stack config picks one with `penguinmails-infra:hostwindsAccount`
 * / `penguinmails-infra:cloudflareAccount` (plain names, never the secrets).
 */
import { CloudflareClient, cloudflareSettings } from "../../../providers/cloudflare/client";
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { readSettings } from "../../../providers/hostwinds/settings";
import { InventorySources } from "./inventory";
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
    if (k.startsWith(`${prefix}__`) && v) out.push({ account: k.slice(prefix.length + 2).toLowerCase(), secret: v });
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
          requestsPerSecond: hw!.requestsPerSecond,
          requestTimeoutMs: hw!.requestTimeoutMs,
        }),
    ),
    cloudflare: tokens.map((t) => new CloudflareClient({ apiToken: t.secret, baseUrl: cf.baseUrl })),
  };
}
