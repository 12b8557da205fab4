/**
 * The penguinmails CrossGuard policy pack. Run it with every preview and up:
 *   pulumi preview --policy-pack policies [--policy-pack-config policies/config.example.json]
 * Mandatory: the tenant's declared config within tier and budget (checked on
 * its TenantPlan, before anything is bought), and the same on the actual
 * resources: sending IPs within the tier, IPs per server, monthly cost within
 * budget, resources belong to the stack's tenant. Advisory: sending domains
 * without SPF, DKIM or DMARC; hourly billing; servers that allow replacement.
 */
import { PolicyPack, PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import {
  PolicyConfig,
  SECONDARY_IP,
  StackResource,
  Violation,
  declaredPlanWithinLimits,
  hourlyBillingOnLongLivedServer,
  ipsPerServerWithinLimit,
  monthlyCostWithinBudget,
  replacementAllowed,
  resourcesBelongToTenant,
  sendingDomainsAuthenticated,
  sendingIpsWithinTier,
} from "./rules";
import { flushCompileCache } from "../providers/lib/compile-cache";
import { assertFreshBuild } from "../providers/lib/fresh-build";

// The pack runs its compiled copy (policies/dist/): an edit without `npm run build` would enforce the old rules.
assertFreshBuild("the policy pack", ["policies", "providers"]);

const configSchema = {
  properties: {
    tiers: { type: "object" as const, description: 'Per-tier overrides: {"growth": {"maxSendingIps": 10, "maxIpsPerServer": 5}}' },
    ipMonthlyPriceUsd: { type: "number" as const, description: "Price of one sending IP per month" },
  },
};

function toStackResource(r: PolicyResource): StackResource {
  const serverDep = r.type === SECONDARY_IP ? r.propertyDependencies?.serviceId?.[0] : undefined;
  return { type: r.type, urn: r.urn, name: r.name, props: r.props, serverUrn: serverDep?.urn ?? r.parent?.urn };
}

function stackPolicy(
  name: string,
  description: string,
  rule: (rs: StackResource[], cfg: PolicyConfig) => Violation[],
): StackValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: "mandatory",
    configSchema,
    validateStack: (args, report) => {
      const resources = args.resources.map(toStackResource);
      for (const v of rule(resources, args.getConfig<PolicyConfig>())) report(v.message, v.urn);
    },
  };
}

export const pack = new PolicyPack("penguinmails", {
  policies: [
    {
      name: "tenant-config-within-limits",
      description:
        "What a tenant's config asks for (sending IPs, monthly cost) fits its tier and budget; checked before anything is bought.",
      enforcementLevel: "mandatory",
      configSchema,
      validateResource: (args, report) => {
        const r = { type: args.type, urn: args.urn, name: args.name, props: args.props };
        for (const v of declaredPlanWithinLimits(r, args.getConfig<PolicyConfig>())) report(v.message);
      },
    },
    stackPolicy("sending-ips-within-tier", "A tenant's sending IPs stay within its plan tier's limit.", sendingIpsWithinTier),
    stackPolicy("ips-per-server-within-limit", "No server carries more sending IPs than its tier allows.", ipsPerServerWithinLimit),
    stackPolicy("monthly-cost-within-budget", "A tenant's projected monthly cost stays within its budget.", monthlyCostWithinBudget),
    stackPolicy(
      "resources-belong-to-tenant",
      "Every Hostwinds resource carries the stack's tenant; a tenant cannot manage another's.",
      (rs) => resourcesBelongToTenant(rs),
    ),
    {
      name: "sending-domains-authenticated",
      description: "Every sending domain publishes SPF, DKIM and DMARC.",
      enforcementLevel: "advisory",
      validateStack: (args, report) => {
        for (const v of sendingDomainsAuthenticated(args.resources.map(toStackResource))) report(v.message, v.urn);
      },
    },
    {
      name: "servers-kept-in-place",
      description:
        "A server's mail and warmed IPs are kept: changes are made in place, and a server that opts into replacement (allowReplace) is named with what it would lose.",
      enforcementLevel: "advisory",
      validateStack: (args, report) => {
        for (const v of replacementAllowed(args.resources.map(toStackResource))) report(v.message, v.urn);
      },
    },
    {
      name: "no-hourly-billing-on-mail-servers",
      description: "Mail servers live for months: hourly billing costs more than monthly.",
      enforcementLevel: "advisory",
      validateResource: (args, report) => {
        for (const v of hourlyBillingOnLongLivedServer({ type: args.type, urn: args.urn, name: args.name, props: args.props }))
          report(v.message);
      },
    },
  ],
});

// The engine kills the policy pack's process when the preview ends: write Node's compile cache of
// everything loaded so far (TypeScript and ts-node, which run-policy-pack always loads, included).
flushCompileCache();
