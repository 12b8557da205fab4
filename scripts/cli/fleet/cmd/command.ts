/**
 * What every fleet command shares: its entry in the command table, the invocation it is handed,
 * and the selection of tenant stacks most commands start with (options, shards, the queue).
 */
import * as path from "path";
import { projectRoot } from "../../../lib/engine/pulumi-env";
import { fleetProject } from "../../../lib/stacks/tenants";
import { intOption, listOption, usageError } from "../../../lib/args";
import { FleetOptions, selectTenants } from "../commands";
import { parseWaves } from "../waves";
import { progressLine } from "../pool";
import type { FleetFlags } from "./flags";

/** One command as the user types it. */
export interface Invocation {
  command: string;
  flags: FleetFlags;
  /** Bare words after the command (only `report` takes any). */
  files: string[];
  json: boolean;
}

/** One row of the command table: its name, its help and what runs it. */
export interface FleetCommand {
  name: string;
  /** How the help's command list shows it when it needs more than its name (`recover --tenant T`). */
  synopsis?: string;
  /** What it does, as the help's command list says it (one entry per line). */
  summary: string[];
  /** Whether it takes bare words (files). */
  files?: boolean;
  /** Runs it; the exit status. */
  run(inv: Invocation): Promise<number>;
}

export function usage(msg: string): never {
  return usageError("fleet", msg);
}

export const usd = (n: number) => `$${n.toFixed(2)}`;
export const plural = (n: number, one: string, many = `${one}s`) => (n === 1 ? one : many);

/**
 * Whether preview, up and worker run tenant programs inline in long-lived engine workers
 * (scripts/lib/stacks/engine-workers.ts): the default; `--no-inline` runs the CLI program, a Node process per tenant.
 */
export function inlineEngine(flags: FleetFlags): boolean {
  if (flags.inline === true && flags["no-inline"] === true) usage("--inline and --no-inline: give one");
  return flags["no-inline"] !== true;
}

/** The K-th of N shards of a list: every N-th item from K (stable: the same tenant lands in the same shard). */
export function shardOf<T>(items: T[], k: number, n: number): T[] {
  return items.filter((_, i) => i % n === k - 1);
}

/** The tenant stacks a command runs on, and how. */
export interface FleetRun {
  o: FleetOptions;
  tenants: string[];
  concurrency: number | undefined;
  waves: number[];
  database: string | undefined;
  queued: boolean;
}

/**
 * The options and the selected tenants (--tenants, --changed-since, --shard), told on stderr;
 * --queue checked to have a database. Every command but catalog and report starts here.
 */
export function selectFleet(inv: Invocation): FleetRun {
  const { command, flags } = inv;
  const project = fleetProject(path.resolve(String(flags.root ?? projectRoot)));
  const concurrency = intOption("fleet", "concurrency", flags.concurrency);
  let waves: number[] = [];
  try {
    waves = parseWaves(flags.waves);
  } catch (e) {
    usage((e as Error).message);
  }
  const o: FleetOptions = {
    project,
    concurrency,
    tenants: listOption(flags.tenants),
    changedSince: flags["changed-since"],
    policyPacks: flags["no-policy"] ? undefined : [path.join(projectRoot, "policies")],
    refresh: flags.refresh === true,
    inline: inlineEngine(flags),
    onProgress: (p) => process.stderr.write(`${progressLine(command, p)}\n`),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  const selection = selectTenants(o);
  let tenants = selection.tenants;
  if (typeof flags.shard === "string") {
    const m = /^(\d+)\/(\d+)$/.exec(flags.shard);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) usage("--shard must be K/N with 1 ≤ K ≤ N");
    tenants = shardOf(tenants, Number(m[1]), Number(m[2]));
  }
  if (selection.removed.length)
    process.stderr.write(`fleet: config removed for ${selection.removed.join(", ")}: their stacks are left alone (destroy them by hand)\n`);
  process.stderr.write(
    `fleet ${command}: ${tenants.length} tenant${tenants.length === 1 ? "" : "s"}${o.changedSince ? ` changed since ${o.changedSince}` : ""}\n`,
  );
  const database = flags.database ?? process.env.PENGUINMAILS_DATABASE_URL;
  const queued = flags.queue === true;
  if (queued && !database) usage("--queue needs --database URL (or PENGUINMAILS_DATABASE_URL): the Postgres the workers take jobs from");
  return { o, tenants, concurrency, waves, database, queued };
}
