/**
 * `TenantPlan`: which tenant a stack is, its tier and budget, and what its
 * config asks for. The tenant program registers it first and makes every
 * server depend on it, so a mandatory policy on it stops a run before anything
 * is bought, even in an `up` without a preview.
 */
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../lib/dynamic-resource";
import type { Tier } from "../model/tiers";

export { TENANT_PLAN_TYPE } from "../model/resource-types";

export interface TenantPlanArgs {
  tenant: pulumi.Input<string>;
  tier: pulumi.Input<Tier>;
  monthlyBudgetUsd: pulumi.Input<number>;
  /** Declared by the program from the config: servers, sending IPs and their projected monthly cost. */
  servers: pulumi.Input<number>;
  sendingIps: pulumi.Input<number>;
  projectedMonthlyUsd: pulumi.Input<number>;
  mailboxes?: pulumi.Input<number>;
}

export class TenantPlan extends DynamicResource {
  declare readonly tenant: pulumi.Output<string>;
  declare readonly tier: pulumi.Output<Tier>;
  declare readonly monthlyBudgetUsd: pulumi.Output<number>;
  constructor(name: string, args: TenantPlanArgs, opts?: pulumi.CustomResourceOptions) {
    super("dist/providers/tenant/plan", name, args, opts, "penguinmails", "TenantPlan");
  }
}
