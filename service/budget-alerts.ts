/**
 * Budget alerts: on each pass (the monitoring timer), every tenant's projected month (./cost.ts)
 * against its `monthlyBudgetUsd`; at 80 % and at 100 % a `budget.alert` webhook, each once per
 * tenant, month and threshold (the claim and the webhook are one transaction).
 */
import { Pool } from "pg";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
import { inTransaction } from "../scripts/lib/postgres/index";
import { budgetThresholdsReached, tenantCost } from "./cost";
import { queueWebhook } from "./lifecycle";
import { claimBudgetAlert, costInputs } from "./store/cost";

export async function budgetPass(pool: Pool, now = new Date()): Promise<Array<{ tenant: string; threshold: number }>> {
  const sent: Array<{ tenant: string; threshold: number }> = [];
  for (const input of await costInputs(pool, "*", defaultPriceBook())) {
    const cost = tenantCost(input, defaultPriceBook(), now);
    for (const threshold of budgetThresholdsReached(cost.projectedUsd, cost.budgetUsd)) {
      const alert = { tenant: cost.tenant, month: cost.month, threshold, projectedUsd: cost.projectedUsd, budgetUsd: cost.budgetUsd! };
      const claimed = await inTransaction(pool, async (c) => {
        if (!(await claimBudgetAlert(c, alert))) return false;
        await queueWebhook(c, "budget.alert", cost.tenant, {
          event: "budget.alert",
          ...alert,
          detail: `tenant ${cost.tenant} is projected to spend $${cost.projectedUsd.toFixed(2)} in ${cost.month}, ${cost.budgetPct}% of its $${cost.budgetUsd} budget`,
        });
        return true;
      });
      if (claimed) sent.push({ tenant: cost.tenant, threshold });
    }
  }
  return sent;
}
