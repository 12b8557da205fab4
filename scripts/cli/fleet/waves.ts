/**
 * A fleet-wide `up` goes out in waves: the first wave is a small share of the
 * tenants (default 1%, at least one), then more (10%), then the rest; the
 * first tenant that fails or is blocked by policy halts the rollout, the
 * tenants already running finish, and no later tenant or wave starts. Tenants
 * go in selection order (sorted), so the same canaries lead every rollout.
 */
import { TenantChange } from "../../lib/stacks/changes";

export const DEFAULT_WAVES = [1, 10, 100];

/** Parses `--waves 1,10,100`: cumulative percentages, increasing, the last 100. */
export function parseWaves(text: string | undefined): number[] {
  if (text === undefined) return DEFAULT_WAVES;
  const waves = text.split(",").map((x) => Number(x.trim().replace(/%$/, "")));
  if (
    !waves.length ||
    waves.some((w, i) => !Number.isFinite(w) || w <= 0 || w > 100 || (i > 0 && w <= waves[i - 1])) ||
    waves.at(-1) !== 100
  )
    throw new Error(`--waves ${text}: give increasing percentages of the tenants ending at 100, e.g. 1,10,100`);
  return waves;
}

/** The tenants of each wave (each at least one tenant; empty waves dropped). */
export function planWaves(tenants: string[], percents: number[]): string[][] {
  const out: string[][] = [];
  let done = 0;
  for (const p of percents) {
    const upTo = Math.min(tenants.length, Math.max(done + (done === 0 ? 1 : 0), Math.ceil((tenants.length * p) / 100)));
    if (upTo > done) out.push(tenants.slice(done, upTo));
    done = upTo;
  }
  return out;
}

export interface WaveOutcome {
  waves: Array<{ percent: number; tenants: string[] }>;
  /** Set when a tenant failed or was blocked: the rollout stopped after this wave. */
  halted?: { wave: number; tenant: string; status: TenantChange["status"]; error?: string; notRun: string[] };
}

/**
 * Runs `run` wave by wave. `run` gets a stop signal it checks before starting
 * each tenant (set at the first problem), so a wave halts mid-way too.
 */
export async function inWaves(
  tenants: string[],
  percents: number[],
  run: (batch: string[], stopped: () => boolean, problem: (c: TenantChange) => void) => Promise<TenantChange[]>,
  log: (line: string) => void = () => undefined,
): Promise<{ results: TenantChange[]; outcome: WaveOutcome }> {
  const plan = planWaves(tenants, percents);
  const results: TenantChange[] = [];
  const outcome: WaveOutcome = { waves: [] };
  let first: TenantChange | undefined;
  for (const [i, batch] of plan.entries()) {
    const percent = percents[Math.min(i, percents.length - 1)];
    log(`fleet up: wave ${i + 1}/${plan.length}: ${batch.length} tenant${batch.length === 1 ? "" : "s"}`);
    outcome.waves.push({ percent, tenants: batch });
    const got = await run(
      batch,
      () => first !== undefined,
      (c) => {
        first ??= c;
      },
    );
    results.push(...got);
    const bad = first ?? got.find((c) => c.status !== "ok");
    if (bad) {
      const ran = new Set(results.map((r) => r.tenant));
      outcome.halted = {
        wave: i + 1,
        tenant: bad.tenant,
        status: bad.status,
        error: bad.error,
        notRun: tenants.filter((t) => !ran.has(t)),
      };
      log(`fleet up: halted in wave ${i + 1}: ${bad.tenant} ${bad.status}; ${outcome.halted.notRun.length} tenants not started`);
      break;
    }
  }
  return { results, outcome };
}
