/**
 * `fleet drift`: the inventory first (the real world listed in bulk, the
 * last-known world read from the checkpoints), then the engine's refresh
 * preview only for the tenants that differ. Counts what it spent: API calls
 * of the inventory and engine runs.
 */
import { DriftResult, FleetOptions, keepDrift, refreshDrift } from "./commands";
import { lastKnownWorld } from "./checkpoints";
import { backendUrl, projectName, stateStore } from "./backend";
import { InventorySources, differences, fleetInventorySources, realWorld } from "./inventory";

export interface DriftStats {
  tenants: number;
  /** Tenants the inventory found different (or could not judge): the engine runs for these. */
  engineRuns: number;
  apiCalls: { hostwinds: number; cloudflare: number };
  inventoryS: number;
  engineS: number;
  /** Why the inventory was not used (every tenant went to the engine). */
  inventorySkipped?: string;
}

export interface DriftReport {
  tenants: DriftResult[];
  stats: DriftStats;
}

export interface DriftOptions {
  /** The accounts and tokens to list (default: from the environment, see credentials.ts). */
  sources?: InventorySources;
  /** Skip the inventory: refresh every tenant through the engine (the old way). */
  engineOnly?: boolean;
  /** Runs the engine's check for these tenants (default: here, in the pool; `--queue`: on the workers). */
  engine?: (tenants: string[]) => Promise<DriftResult[]>;
}

export async function fleetDrift(o: FleetOptions, tenants: string[], d: DriftOptions = {}): Promise<DriftReport> {
  const log = o.log ?? (() => undefined);
  const stats: DriftStats = {
    tenants: tenants.length,
    engineRuns: 0,
    apiCalls: { hostwinds: 0, cloudflare: 0 },
    inventoryS: 0,
    engineS: 0,
  };
  const t0 = Date.now();
  let suspects = new Map<string, string[]>(tenants.map((t) => [t, ["inventory not used"]]));
  const store = d.engineOnly ? undefined : stateStore(backendUrl(o));
  const sources = d.engineOnly ? undefined : (d.sources ?? fleetInventorySources(o.project, tenants));
  if (d.engineOnly) stats.inventorySkipped = "--engine-only";
  else if (!store)
    stats.inventorySkipped = "the backend is not a file:// or postgres:// DIY backend: its checkpoints are not read directly";
  else if (!sources) stats.inventorySkipped = "no Hostwinds key or Cloudflare token in the environment";
  if (!stats.inventorySkipped && store && sources) {
    log(`fleet drift: reading ${tenants.length} checkpoints and listing Hostwinds and Cloudflare`);
    const [known, world] = await Promise.all([
      lastKnownWorld(store, projectName(o.project), tenants).finally(() => store.close()),
      realWorld(sources),
    ]);
    stats.apiCalls = world.calls;
    suspects = new Map(known.map((k) => [k.tenant, differences(k, world)] as const).filter(([, diff]) => diff.length > 0));
    log(
      `fleet drift: inventory in ${((Date.now() - t0) / 1000).toFixed(1)} s (${world.calls.hostwinds} Hostwinds and ${world.calls.cloudflare} Cloudflare calls): ${suspects.size} of ${tenants.length} tenants differ`,
    );
  } else {
    await store?.close();
    log(`fleet drift: inventory skipped (${stats.inventorySkipped}); refreshing every tenant`);
  }
  stats.inventoryS = (Date.now() - t0) / 1000;

  const t1 = Date.now();
  const checked = suspects.size ? await (d.engine ?? ((t: string[]) => refreshDrift(o, t)))([...suspects.keys()]) : [];
  stats.engineS = (Date.now() - t1) / 1000;
  stats.engineRuns = checked.length;
  const now = new Date().toISOString();
  const byTenant = new Map(checked.map((c) => [c.tenant, c]));
  const results = tenants.map((t): DriftResult =>
    byTenant.has(t)
      ? { ...byTenant.get(t)!, inventory: stats.inventorySkipped ? undefined : suspects.get(t) }
      : { tenant: t, drifted: false, changes: [], checkedAt: now },
  );
  keepDrift(results);
  return { tenants: results, stats };
}
