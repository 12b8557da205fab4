/**
 * What a tenant costs this month and next, from what it holds (servers, IPs, backup storage) and
 * what it asked for and is not yet applied (open requests): pure functions over rows the store
 * reads (./store/cost.ts), so the report, the budget alerts and the console agree.
 *
 * - Month to date: every item at its monthly price, for the part of this month (UTC) it was held
 *   so far (by the millisecond; a month is its own number of days).
 * - Projected end of month: month to date plus what is held now for the rest of the month.
 * - Next month: what is held now for a whole month, plus what the open requests add or remove
 *   (priced from the catalogue, as the request would be bought).
 * - Price-list change: what next month would cost more (or less) if everything held were renewed
 *   at the catalogue's price today instead of the price Hostwinds charged when it was bought.
 * Budget alerts: at 80 % and 100 % of `monthlyBudgetUsd` by the projected figure.
 */
import { BillingCycle, PriceBook, monthlyPriceUsd } from "../providers/model/pricing";

/**
 * [assumed] Backup storage per GB and month: the catalogue (Hostwinds' price list) sells no
 * storage and the backup target is the operator's own; this figure is the one place it is set,
 * and every report that uses it lists it under `assumptions`.
 */
export const BACKUP_USD_PER_GB_MONTH = 0.01;
export const ASSUMED_BACKUP_PRICE = `backup storage at $${BACKUP_USD_PER_GB_MONTH}/GB-month [assumed: the catalogue has no storage price]`;

export const BUDGET_THRESHOLDS = [80, 100] as const;

export interface HeldItem {
  kind: "server" | "ip" | "backup";
  name: string;
  /** What Hostwinds charged a month (the stack's outputs). */
  monthlyUsd: number;
  /** What the catalogue asks today for the same thing, when known. */
  listUsd?: number;
  since: Date | null;
  releasedAt: Date | null;
}

export interface OpenRequest {
  id: string;
  kind: string;
  params: Record<string, unknown>;
}

export interface TenantCostInput {
  tenant: string;
  budgetUsd: number | null;
  items: HeldItem[];
  openRequests: OpenRequest[];
}

/** The figures of a month's cost, in USD: a tenant's, or the fleet's sum of them. */
export interface CostFigures {
  month: string;
  monthToDateUsd: number;
  projectedUsd: number;
  nextMonthUsd: number;
  openRequestsUsd: number;
  priceListChangeUsd: number;
}

export interface TenantCost extends CostFigures {
  tenant: string;
  byKind: { servers: number; ips: number; backups: number };
  budgetUsd: number | null;
  /** Projected as a percentage of the budget (null without one). */
  budgetPct: number | null;
  assumptions: string[];
}

export const cents = (n: number) => Math.round(n * 100) / 100;

/** The UTC month of `now`: its start, its end, its length in ms and its name (YYYY-MM). */
export function monthOf(now: Date): { start: number; end: number; ms: number; name: string } {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return { start, end, ms: end - start, name: new Date(start).toISOString().slice(0, 7) };
}

/** The next UTC month's name (YYYY-MM). */
export const nextMonthName = (now: Date) => monthOf(new Date(monthOf(now).end)).name;

const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/** Whether the item is held at `now`. */
export const heldAt = (i: HeldItem, now: Date) =>
  (i.since === null || i.since.getTime() <= now.getTime()) && (i.releasedAt === null || i.releasedAt.getTime() > now.getTime());

/**
 * What an open request would add to a month (negative when it releases): IPs and servers at the
 * catalogue's price; a released IP at what the tenant pays for it (`ipPrice` by IP).
 */
export function requestMonthlyUsd(r: OpenRequest, book: PriceBook, ipPrice: (ip: string) => number | undefined): number {
  const p = r.params;
  const count = (x: unknown) => (typeof x === "number" && x > 0 ? x : 0);
  switch (r.kind) {
    case "acquire_ips":
    case "add_standby":
      return cents(count(p.count ?? 1) * book.ipMonthlyPriceUsd);
    case "add_server": {
      const plan = book.plans.find((x) => x.rid === p.plan);
      const server = plan ? (monthlyPriceUsd(plan, (p.billingCycle as BillingCycle | undefined) ?? "monthly") ?? 0) : 0;
      return cents(server + (count(p.sendingIps) + count(p.standbyIps)) * book.ipMonthlyPriceUsd);
    }
    case "release_ip":
    case "retire_ip":
      return -cents(ipPrice(String(p.ip)) ?? book.ipMonthlyPriceUsd);
    default:
      return 0;
  }
}

/**
 * The sums a tenant's figures are made of, over what it holds (in the items' order): month to date,
 * the rest of the month, the monthly price of what is held now, and the price-list change of that.
 * store/cost.ts's `scopeFleetCost` computes the same, and tenantFigures', in Postgres for the fleet's figures.
 */
export interface HeldSums {
  mtd: number;
  rest: number;
  held: number;
  change: number;
}

export function heldSums(items: HeldItem[], now: Date): HeldSums & { byKind: TenantCost["byKind"] } {
  const m = monthOf(now);
  const t = now.getTime();
  const byKind = { servers: 0, ips: 0, backups: 0 };
  const s = { mtd: 0, rest: 0, held: 0, change: 0 };
  for (const i of items) {
    const from = i.since?.getTime() ?? m.start;
    const to = i.releasedAt?.getTime() ?? Infinity;
    const part = (i.monthlyUsd * overlap(from, to, m.start, t)) / m.ms;
    const ahead = (i.monthlyUsd * overlap(from, to, t, m.end)) / m.ms;
    s.mtd += part;
    s.rest += ahead;
    byKind[i.kind === "server" ? "servers" : i.kind === "ip" ? "ips" : "backups"] += part + ahead;
    if (heldAt(i, now)) {
      s.held += i.monthlyUsd;
      if (i.listUsd !== undefined) s.change += i.listUsd - i.monthlyUsd;
    }
  }
  return { ...s, byKind };
}

/** What the fleet's figures take from each tenant's. */
export type TenantFigures = Pick<
  TenantCost,
  "monthToDateUsd" | "projectedUsd" | "nextMonthUsd" | "openRequestsUsd" | "priceListChangeUsd" | "budgetUsd" | "budgetPct"
>;

/** A tenant's figures from its sums, what its open requests add to next month, and its budget. */
export function tenantFigures(s: HeldSums, openUsd: number, budgetUsd: number | null): TenantFigures {
  const projected = cents(s.mtd + s.rest);
  return {
    monthToDateUsd: cents(s.mtd),
    projectedUsd: projected,
    nextMonthUsd: cents(Math.max(0, s.held + openUsd)),
    openRequestsUsd: cents(openUsd),
    priceListChangeUsd: cents(s.change),
    budgetUsd,
    budgetPct: budgetUsd ? Math.round((projected / budgetUsd) * 1000) / 10 : null,
  };
}

/** One tenant's month to date, projection, next month, price-list change and budget use. */
export function tenantCost(input: TenantCostInput, book: PriceBook, now: Date): TenantCost {
  const sums = heldSums(input.items, now);
  const ipPrice = (ip: string) => input.items.find((i) => i.kind === "ip" && i.name === ip)?.monthlyUsd;
  const open = input.openRequests.reduce((s, r) => s + requestMonthlyUsd(r, book, ipPrice), 0);
  const { budgetUsd, budgetPct, ...figures } = tenantFigures(sums, open, input.budgetUsd);
  const { byKind } = sums;
  return {
    tenant: input.tenant,
    month: monthOf(now).name,
    ...figures,
    byKind: { servers: cents(byKind.servers), ips: cents(byKind.ips), backups: cents(byKind.backups) },
    budgetUsd,
    budgetPct,
    assumptions: input.items.some((i) => i.kind === "backup") ? [ASSUMED_BACKUP_PRICE] : [],
  };
}

/** The thresholds (percent of the budget) the projection has reached; none without a budget. */
export function budgetThresholdsReached(projectedUsd: number, budgetUsd: number | null): number[] {
  if (!budgetUsd || budgetUsd <= 0) return [];
  return BUDGET_THRESHOLDS.filter((p) => projectedUsd >= (budgetUsd * p) / 100);
}

export interface FleetCost extends CostFigures {
  tenants: number;
  overBudget: number;
}

/** The fleet's figures for some of its tenants, already summed (store/cost.ts's scopeFleetCost). */
export type FleetSums = Omit<FleetCost, "month">;

/** The whole fleet's figures: the sum over its tenants (plus `summed`, for tenants summed elsewhere). */
export function fleetCost(rows: TenantFigures[], now: Date, summed?: FleetSums): FleetCost {
  const sum = (f: (r: TenantFigures) => number, from = 0) => cents(rows.reduce((s, r) => s + f(r), from));
  return {
    tenants: (summed?.tenants ?? 0) + rows.length,
    month: monthOf(now).name,
    monthToDateUsd: sum((r) => r.monthToDateUsd, summed?.monthToDateUsd),
    projectedUsd: sum((r) => r.projectedUsd, summed?.projectedUsd),
    nextMonthUsd: sum((r) => r.nextMonthUsd, summed?.nextMonthUsd),
    openRequestsUsd: sum((r) => r.openRequestsUsd, summed?.openRequestsUsd),
    priceListChangeUsd: sum((r) => r.priceListChangeUsd, summed?.priceListChangeUsd),
    overBudget: (summed?.overBudget ?? 0) + rows.filter((r) => r.budgetPct !== null && r.budgetPct >= 100).length,
  };
}

/** A CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a leading =+-@ is neutralised for spreadsheets. */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(s) && typeof v === "string") s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const toCsv = (header: string[], rows: unknown[][]) => [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
