/**
 * Waiting out a database outage: a step whose work is done elsewhere (the engine bought an IP,
 * git has the commit) must not lose it because Postgres is away for a while, so its write is
 * tried again until the database answers, as long as `maxMs`. Only errors that say the database
 * is unreachable or restarting are waited on; any other error is thrown at once.
 */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "EPIPE",
  "ETIMEDOUT",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
]);

export function databaseUnreachable(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (err?.code && UNREACHABLE_CODES.has(err.code)) return true;
  return /Connection terminated|connect ECONNREFUSED|connect ENOENT|the database system is (starting up|shutting down|in recovery)|terminating connection|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    err?.message ?? "",
  );
}

export async function untilDatabase<T>(f: () => Promise<T>, o: { maxMs?: number; log?: (line: string) => void } = {}): Promise<T> {
  const until = Date.now() + (o.maxMs ?? 60 * 60_000);
  let wait = 500;
  let said = false;
  for (;;) {
    try {
      const out = await f();
      if (said) o.log?.("the database is back; recorded");
      return out;
    } catch (e) {
      if (!databaseUnreachable(e) || Date.now() > until) throw e;
      if (!said) o.log?.(`the database is unreachable (${(e as Error).message}); waiting for it`);
      said = true;
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
    }
  }
}
