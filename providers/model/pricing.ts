/**
 * Prices normalized to a month, from Hostwinds' price list. Billing cycles
 * are Hostwinds' own names; an hourly server is counted at 730 hours a month.
 */

export const BILLING_CYCLES = ["hourly", "monthly", "quarterly", "semiannually", "annually", "biennially", "triennially"] as const;
export type BillingCycle = (typeof BILLING_CYCLES)[number];

export const HOURS_PER_MONTH = 730;

/**
 * A plan as the cost model needs it: its rid and a price per billing cycle. The model is the
 * lowest floor, so it names no wire type: Hostwinds' plans (providers/hostwinds/wire.ts) fit it.
 */
export type PlanPrices = { rid: number } & Partial<Record<BillingCycle, number>>;
const MONTHS: Record<Exclude<BillingCycle, "hourly">, number> = {
  monthly: 1,
  quarterly: 3,
  semiannually: 6,
  annually: 12,
  biennially: 24,
  triennially: 36,
};

/** The plan's price for one month on this billing cycle, or undefined when the plan has no price for it. */
export function monthlyPriceUsd(plan: PlanPrices, cycle: BillingCycle): number | undefined {
  const price = plan[cycle];
  if (price === undefined || Number.isNaN(price)) return undefined;
  const monthly = cycle === "hourly" ? price * HOURS_PER_MONTH : price / MONTHS[cycle];
  return Math.round(monthly * 100) / 100;
}

/**
 * The cost model, one module for outputs, policies and the pipeline:
 * servers at their plan's price for their billing cycle (normalized to a
 * month), secondary IPs at a configurable price (Hostwinds publishes none).
 */
export interface ServerCostInput {
  name: string;
  plan: number;
  billingCycle: BillingCycle;
  sendingIps: number;
  /** A price already known (e.g. from state); used instead of the price list. */
  serverMonthlyUsd?: number;
}
export interface PriceBook {
  plans: PlanPrices[];
  ipMonthlyPriceUsd: number;
}
export interface ServerCost {
  name: string;
  serverUsd: number;
  ipsUsd: number;
  totalUsd: number;
}
export interface MonthlyCost {
  servers: ServerCost[];
  totalUsd: number;
}

const cents = (n: number) => Math.round(n * 100) / 100;

export class UnknownPriceError extends Error {
  override readonly name = "UnknownPriceError";
}

export function monthlyCost(servers: ServerCostInput[], book: PriceBook): MonthlyCost {
  const out = servers.map((s): ServerCost => {
    let serverUsd = s.serverMonthlyUsd;
    if (serverUsd === undefined) {
      const plan = book.plans.find((p) => p.rid === s.plan);
      if (!plan)
        throw new UnknownPriceError(
          `server ${s.name}: plan ${s.plan} is not in the price list (plan rids: ${book.plans.map((p) => p.rid).join(", ")})`,
        );
      serverUsd = monthlyPriceUsd(plan, s.billingCycle);
      if (serverUsd === undefined) throw new UnknownPriceError(`server ${s.name}: plan ${s.plan} has no ${s.billingCycle} price`);
    }
    const ipsUsd = cents(s.sendingIps * book.ipMonthlyPriceUsd);
    return { name: s.name, serverUsd, ipsUsd, totalUsd: cents(serverUsd + ipsUsd) };
  });
  return { servers: out, totalUsd: cents(out.reduce((a, s) => a + s.totalUsd, 0)) };
}
