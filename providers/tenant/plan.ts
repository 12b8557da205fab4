/**
 * The implementation behind `TenantPlan`: a record in the stack's state of
 * which tenant the stack is, its plan tier, its monthly budget and what its
 * config asks for. It calls no API; policies and fleet commands read it.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { TIERS } from "../model/tiers";
import { checkInputs } from "../lib/dynamic";
import { SLUG } from "../model/names";

export const tenantPlanSchema = z.object({
  tenant: z.string().regex(SLUG, "must be 1-32 lowercase letters, digits or dashes"),
  tier: z.enum(TIERS, { error: () => `must be one of ${TIERS.join(", ")}` }),
  monthlyBudgetUsd: z
    .number({ error: (i) => (i.input === undefined ? undefined : "must be a number of US dollars") })
    .nonnegative("must not be negative"),
  /** What the tenant's config asks for, so a policy can refuse it before anything is bought. */
  servers: z.number().int().nonnegative(),
  sendingIps: z.number().int().nonnegative(),
  projectedMonthlyUsd: z.number().nonnegative(),
  /** Mailboxes over all the tenant's domains (absent in plans recorded before mailboxes existed). */
  mailboxes: z.number().int().nonnegative().optional(),
});
export type TenantPlanInputs = z.infer<typeof tenantPlanSchema>;

export const provider: pulumi.dynamic.ResourceProvider<TenantPlanInputs, TenantPlanInputs> = {
  async check(_olds, news) {
    return checkInputs(tenantPlanSchema, `TenantPlan ${news.tenant ?? ""}`.trim(), news);
  },
  async diff(_id, olds, news) {
    const changes = (Object.keys(tenantPlanSchema.shape) as Array<keyof TenantPlanInputs>).some((k) => olds[k] !== news[k]);
    return { changes, replaces: olds.tenant !== news.tenant ? ["tenant"] : [] };
  },
  async create(inputs) {
    return { id: inputs.tenant, outs: inputs };
  },
  async read(id, props) {
    return { id, props, inputs: props };
  },
  async update(_id, _olds, news) {
    return { outs: news };
  },
  async delete() {
    // Nothing outside the stack to remove.
  },
};
