/**
 * The environment that points the providers (and so every engine run of a tenant) at the
 * stand-ins: the Hostwinds API stand-in with its key, the Cloudflare API stand-in with its token,
 * a short poll interval, and no client-side rate limit unless a caller asks for one (the
 * stand-ins enforce their own limits when told to).
 */
import type { CloudflareSim } from "./cloudflare";
import type { HostwindsSim } from "./hostwinds";

export const standinEnv = (
  sim: HostwindsSim,
  key: string,
  cf: CloudflareSim,
  cfToken: string,
  extra: Record<string, string> = {},
): Record<string, string> => ({
  HOSTWINDS_API_URL: sim.url,
  HOSTWINDS_API_KEY: key,
  HOSTWINDS_POLL_INTERVAL_MS: "100",
  HOSTWINDS_REQUESTS_PER_SECOND: "0",
  CLOUDFLARE_BASE_URL: cf.url,
  CLOUDFLARE_API_TOKEN: cfToken,
  ...extra,
});
