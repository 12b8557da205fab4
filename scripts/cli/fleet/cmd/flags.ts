/**
 * Every option `npm run fleet` accepts, as the one argument parser (scripts/lib/args.ts) reads
 * them; any command accepts any of them (what each one uses is in its help, ./help.ts).
 */
import type { Values } from "../../../lib/args";

export const FLEET_OPTIONS = {
  "changed-since": { type: "string" },
  tenants: { type: "string" },
  concurrency: { type: "string" },
  report: { type: "string" },
  root: { type: "string" },
  shard: { type: "string" },
  shards: { type: "string" },
  repo: { type: "string" },
  branch: { type: "string" },
  namespace: { type: "string" },
  backend: { type: "string" },
  credentials: { type: "string" },
  out: { type: "string" },
  "ip-price": { type: "string" },
  rename: { type: "string" },
  write: { type: "boolean" },
  resolvers: { type: "string" },
  blocklists: { type: "string" },
  json: { type: "boolean" },
  release: { type: "boolean" },
  yes: { type: "boolean" },
  "no-policy": { type: "boolean" },
  "per-tenant": { type: "boolean" },
  check: { type: "boolean" },
  "no-smtp": { type: "boolean" },
  grace: { type: "string" },
  tenant: { type: "string" },
  "dry-run": { type: "boolean" },
  force: { type: "boolean" },
  "min-age": { type: "string" },
  "engine-only": { type: "boolean" },
  waves: { type: "string" },
  refresh: { type: "boolean" },
  inline: { type: "boolean" },
  "no-inline": { type: "boolean" },
  server: { type: "string" },
  snapshot: { type: "string" },
  repository: { type: "string" },
  file: { type: "string" },
  queue: { type: "boolean" },
  database: { type: "string" },
} as const;

export type FleetFlags = Values<typeof FLEET_OPTIONS>;
