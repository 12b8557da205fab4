/**
 * The Hostwinds provider's configuration: where credentials and knobs come
 * from, and only from there. Stack config (`hostwinds:<key>`) wins over the
 * environment (`HOSTWINDS_<KEY>`); nothing here is ever a resource input, so
 * the API key never reaches a resource's state.
 */
import { z } from "zod";
import { DEFAULT_API_URL, DEFAULT_IP_PURCHASE_ACTION } from "./wire";
import type { ClientOptions } from "./client";

/** Config key (after `hostwinds:`) → environment variable, default, meaning. */
export const SETTINGS = {
  apiKey: { env: "HOSTWINDS_API_KEY", doc: "API key (secret). Required." },
  apiUrl: { env: "HOSTWINDS_API_URL", doc: `API endpoint (default ${DEFAULT_API_URL}).` },
  requestsPerSecond: { env: "HOSTWINDS_REQUESTS_PER_SECOND", doc: "Client-side rate limit per API URL (default 2; 0 = off)." },
  requestTimeoutMs: { env: "HOSTWINDS_REQUEST_TIMEOUT_MS", doc: "Timeout of one request (default 30000)." },
  pollIntervalMs: { env: "HOSTWINDS_POLL_INTERVAL_MS", doc: "How often to look while waiting for a server or an IP (default 2000)." },
  buildTimeoutMs: { env: "HOSTWINDS_BUILD_TIMEOUT_MS", doc: "How long a new server may take to become ACTIVE (default 1800000, 30 min)." },
  ipTimeoutMs: {
    env: "HOSTWINDS_IP_TIMEOUT_MS",
    doc: "How long a run waits for a bought IP (default 900000, 15 min); after that the order stays pending in state for the next run.",
  },
  ipPurchaseAction: {
    env: "HOSTWINDS_IP_PURCHASE_ACTION",
    doc: `The API action that buys a secondary IP (default ${DEFAULT_IP_PURCHASE_ACTION}; [assumed]: no public source names it).`,
  },
  requireProbe: {
    env: "HOSTWINDS_REQUIRE_PROBE",
    doc: "Refuse purchases on an account `fleet probe --write` has not probed (default: on for Hostwinds' own endpoint, off elsewhere).",
  },
  ipMonthlyPriceUsd: {
    env: "HOSTWINDS_IP_MONTHLY_PRICE_USD",
    doc: "Price of one secondary IP per month; Hostwinds publishes none (default 4.99).",
  },
} as const;
export type SettingName = keyof typeof SETTINGS;

const count = (min: number) =>
  z.coerce.number({ error: "must be a number" }).finite("must be a number").min(min, `must be at least ${min}`);
export const settingsSchema = z.object({
  apiKey: z
    .string({ error: (i) => (i.input === undefined ? "is not set" : undefined) })
    .min(8, "looks too short to be a Hostwinds API key"),
  apiUrl: z.string().url("must be a URL such as https://clients.hostwinds.com/cloud/api.php").default(DEFAULT_API_URL),
  requestsPerSecond: count(0).default(2),
  requestTimeoutMs: count(100).default(30_000),
  pollIntervalMs: count(10).default(2_000),
  buildTimeoutMs: count(1_000).default(30 * 60_000),
  ipTimeoutMs: count(500).default(15 * 60_000),
  ipPurchaseAction: z
    .string()
    .regex(/^[a-z_]{2,64}$/, "must be an API action name such as add_ip")
    .default(DEFAULT_IP_PURCHASE_ACTION),
  ipMonthlyPriceUsd: count(0).default(4.99),
  requireProbe: z
    .union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")], {
      error: () => "must be true or false",
    })
    .optional(),
});
export type Settings = z.infer<typeof settingsSchema>;

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

/**
 * Reads the settings from a config lookup (`hostwinds:<key>` → value) and the
 * environment. All problems are reported together, each naming the config key
 * and the variable that set it; a bad value's text is shown unless it is the key.
 */
export function readSettings(config: (key: string) => unknown, env: NodeJS.ProcessEnv = process.env): Settings {
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  for (const [name, s] of Object.entries(SETTINGS)) {
    const fromConfig = config(`hostwinds:${name}`);
    if (fromConfig !== undefined && fromConfig !== null && fromConfig !== "") {
      raw[name] = fromConfig;
      source[name] = `config hostwinds:${name}`;
    } else if (env[s.env]) {
      raw[name] = env[s.env];
      source[name] = `environment ${s.env}`;
    }
  }
  const parsed = settingsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => {
    const name = String(i.path[0]) as SettingName;
    const where = source[name] ?? `config hostwinds:${name} (or ${SETTINGS[name].env})`;
    const shown = name === "apiKey" || raw[name] === undefined ? "" : ` (got ${JSON.stringify(raw[name])})`;
    const fix = name === "apiKey" ? "; set it with `pulumi config set --secret hostwinds:apiKey <key>` or HOSTWINDS_API_KEY" : "";
    return `${where} ${i.message}${shown}${fix}`;
  });
  throw new SettingsError(`Hostwinds provider settings: ${lines.join("; ")}`);
}

/** The client options these settings give (one place for the mapping; the provider's session adds its log). */
export function clientOptions(s: Settings): ClientOptions {
  return { apiKey: s.apiKey, apiUrl: s.apiUrl, requestsPerSecond: s.requestsPerSecond, requestTimeoutMs: s.requestTimeoutMs };
}
