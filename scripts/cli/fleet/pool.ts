/**
 * Runs one job per tenant with at most `concurrency` at once, each in a
 * numbered slot (a slot owns a Pulumi home, so two jobs never share one),
 * and reports progress on stderr: done / total, the tenants running, elapsed.
 */
export interface PoolProgress {
  done: number;
  total: number;
  running: string[];
  elapsedMs: number;
  last?: { name: string; ok: boolean; ms: number };
}

export interface JobResult<T> {
  name: string;
  ok: boolean;
  value?: T;
  error?: string;
  ms: number;
}

export async function runPool<T>(
  names: string[],
  concurrency: number,
  job: (name: string, slot: number) => Promise<T>,
  onProgress?: (p: PoolProgress) => void,
  /** Checked before each job starts: once true, no further job starts (the result lists only those that ran). */
  stopped: () => boolean = () => false,
): Promise<JobResult<T>[]> {
  const started = Date.now();
  const results: JobResult<T>[] = new Array(names.length);
  const running = new Set<string>();
  let next = 0;
  let done = 0;
  const worker = async (slot: number) => {
    while (next < names.length && !stopped()) {
      const i = next++;
      const name = names[i];
      running.add(name);
      onProgress?.({ done, total: names.length, running: [...running], elapsedMs: Date.now() - started });
      const t0 = Date.now();
      try {
        results[i] = { name, ok: true, value: await job(name, slot), ms: Date.now() - t0 };
      } catch (e) {
        results[i] = { name, ok: false, error: e instanceof Error ? e.message : String(e), ms: Date.now() - t0 };
      }
      running.delete(name);
      done++;
      onProgress?.({
        done,
        total: names.length,
        running: [...running],
        elapsedMs: Date.now() - started,
        last: { name, ok: results[i].ok, ms: results[i].ms },
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, names.length)) }, (_, k) => worker(k)));
  return results.filter((r) => r !== undefined);
}

/** The progress line the fleet commands print. */
export function progressLine(verb: string, p: PoolProgress): string {
  const secs = (p.elapsedMs / 1000).toFixed(0);
  const last = p.last ? ` · ${p.last.name} ${p.last.ok ? "done" : "FAILED"} in ${(p.last.ms / 1000).toFixed(1)} s` : "";
  return `fleet ${verb}: ${p.done}/${p.total} done, ${secs} s${p.running.length ? `, running ${p.running.join(", ")}` : ""}${last}`;
}
