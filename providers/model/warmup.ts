/**
 * IP warm-up: how many messages a new sending IP may send per day while
 * mailbox providers learn its reputation. Curves follow common practice (see
 * ../shared/reference/mailu-and-dns.md §7): roughly doubling every day or
 * two from a few dozen, holding when bounces or complaints rise.
 */
export const WARMUP_CURVES = {
  /** ~doubling daily from 50 to 20k over two weeks. */
  standard: [50, 100, 200, 400, 750, 1000, 1500, 2500, 3500, 5000, 7500, 10000, 15000, 20000],
  /** Slower, for cold domains or lists of uncertain quality: ~4 weeks to 20k. */
  conservative: [20, 30, 50, 80, 120, 180, 250, 350, 500, 700, 1000, 1400, 2000, 2800, 3800, 5000, 6500, 8500, 11000, 14000, 17000, 20000],
  /** Faster, for engaged recipients only: 10 days to 20k. */
  aggressive: [200, 500, 1000, 2000, 3500, 5000, 7500, 10000, 15000, 20000],
} as const;
export type WarmupCurveName = keyof typeof WARMUP_CURVES;

export interface WarmupDay {
  day: number;
  maxMessages: number;
}

/** The daily schedule of one new IP, from a named curve or a custom list of daily volumes. */
export function warmupSchedule(curve: WarmupCurveName | readonly number[]): WarmupDay[] {
  const volumes = typeof curve === "string" ? WARMUP_CURVES[curve] : curve;
  return volumes.map((maxMessages, i) => ({ day: i + 1, maxMessages }));
}

const DAY_MS = 86_400_000;

/**
 * The warm-up day of an IP got at `since` (an ISO time): day 1 is the UTC calendar date it was got,
 * day 2 the next UTC date, and so on. The server's cap (components/warmup-cap.ts) changes at 00:00 UTC,
 * by the same count. A date in the future (clock skew) counts as day 1.
 */
export function warmupDay(since: Date | string, now = new Date()): number {
  const start = new Date(since).getTime();
  if (Number.isNaN(start)) throw new Error(`warm-up start "${String(since)}" is not a date`);
  return Math.max(1, Math.floor(now.getTime() / DAY_MS) - Math.floor(start / DAY_MS) + 1);
}

/** That day's volume from the schedule; null once the schedule is over (warmed up: no cap). */
export function warmupCap(schedule: readonly WarmupDay[], day: number): number | null {
  return schedule.find((s) => s.day === day)?.maxMessages ?? null;
}
