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

/**
 * A warm-up the customer sets (the journeys: "initial sending volume, e.g. 20–50/day", "daily
 * progression, e.g. 20–30% increase"): day 1 sends `startVolume`, each next day `dailyGrowthPercent`
 * more (rounded up), until `ceiling`, which then stays the IP's daily cap.
 */
export interface WarmupRamp {
  startVolume: number;
  dailyGrowthPercent: number;
  ceiling: number;
}
export const DEFAULT_WARMUP_CEILING = 20000;
/** A ramp longer than this is refused: it would take over a year to reach its ceiling. */
export const MAX_WARMUP_DAYS = 366;

/** A tenant's warm-up: a named curve, daily volumes, or a ramp. */
export type Warmup = WarmupCurveName | readonly number[] | WarmupRamp;

/** The daily volumes of a ramp, from its start to its ceiling (both included). */
export function rampVolumes(r: WarmupRamp): number[] {
  const out = [Math.min(r.startVolume, r.ceiling)];
  while (out[out.length - 1] < r.ceiling && out.length < MAX_WARMUP_DAYS)
    out.push(Math.min(r.ceiling, Math.ceil(out[out.length - 1] * (1 + r.dailyGrowthPercent / 100))));
  return out;
}

/**
 * What one IP's relay enforces: its daily volumes, whether the last one stays as a cap once the plan is
 * over (a ramp's ceiling) or the IP is then uncapped (the named curves and lists), and whether its
 * warm-up is paused (its day does not advance).
 */
export interface IpWarmup {
  volumes: number[];
  holdsAtEnd: boolean;
  paused: boolean;
  /** The day (YYYY-MM-DD) the warm-up started over, when later than the day the IP was got: days count from here. */
  restartedOn?: string;
}

/** One IP's warm-up from the tenant's and, where given, the IP's own settings (`ipWarmup` in the config). */
export function ipWarmup(tenant: Warmup, own?: Partial<WarmupRamp> & { paused?: boolean; restartedOn?: string }): IpWarmup {
  const restart = own?.restartedOn ? { restartedOn: own.restartedOn } : {};
  const ramp = own && (own.startVolume !== undefined || own.dailyGrowthPercent !== undefined || own.ceiling !== undefined);
  const base = typeof tenant === "object" && !Array.isArray(tenant) ? (tenant as WarmupRamp) : undefined;
  if (ramp) {
    const r: WarmupRamp = {
      startVolume: own.startVolume ?? base?.startVolume ?? 50,
      dailyGrowthPercent: own.dailyGrowthPercent ?? base?.dailyGrowthPercent ?? 25,
      ceiling: own.ceiling ?? base?.ceiling ?? DEFAULT_WARMUP_CEILING,
    };
    return { volumes: rampVolumes(r), holdsAtEnd: true, paused: own.paused ?? false, ...restart };
  }
  return {
    volumes: warmupSchedule(tenant).map((d) => d.maxMessages),
    holdsAtEnd: base !== undefined,
    paused: own?.paused ?? false,
    ...restart,
  };
}

export interface WarmupDay {
  day: number;
  maxMessages: number;
}

/** The daily schedule of one new IP, from a named curve, a custom list of daily volumes or a ramp. */
export function warmupSchedule(curve: Warmup): WarmupDay[] {
  const volumes = typeof curve === "string" ? WARMUP_CURVES[curve] : Array.isArray(curve) ? curve : rampVolumes(curve as WarmupRamp);
  return volumes.map((maxMessages, i) => ({ day: i + 1, maxMessages }));
}

const DAY_MS = 86_400_000;

/**
 * The calendar estimate of an IP's warm-up day (outputs and reports): the server itself counts only
 * the days the IP sent (components/warmup-cap.ts), so an IP that sat idle is at or before this day.
 * Day 1 is the UTC calendar date it was got,
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
