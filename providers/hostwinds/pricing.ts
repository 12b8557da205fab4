/**
 * Prices normalized to a month, from Hostwinds' price list. Billing cycles
 * are Hostwinds' own names; an hourly server is counted at 730 hours a month.
 */
import type { Plan } from "./wire";

export const BILLING_CYCLES = ["hourly", "monthly", "quarterly", "semiannually", "annually", "biennially", "triennially"] as const;
export type BillingCycle = (typeof BILLING_CYCLES)[number];

export const HOURS_PER_MONTH = 730;
const MONTHS: Record<Exclude<BillingCycle, "hourly">, number> = {
  monthly: 1, quarterly: 3, semiannually: 6, annually: 12, biennially: 24, triennially: 36,
};

/** The plan's price for one month on this billing cycle, or undefined when the plan has no price for it. */
export function monthlyPriceUsd(plan: Plan, cycle: BillingCycle): number | undefined {
  const price = plan[cycle];
  if (price === undefined || Number.isNaN(price)) return undefined;
  const monthly = cycle === "hourly" ? price * HOURS_PER_MONTH : price / MONTHS[cycle];
  return Math.round(monthly * 100) / 100;
}
