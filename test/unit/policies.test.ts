/** Each policy of the pack, on stacks of resources as the engine hands them over. */
import {
  DNS_RECORD,
  INSTANCE,
  SECONDARY_IP,
  sendingDomainsAuthenticated,
  StackResource,
  TENANT_PLAN,
  declaredPlanWithinLimits,
  hourlyBillingOnLongLivedServer,
  ipsPerServerWithinLimit,
  monthlyCostWithinBudget,
  projectedMonthlyUsd,
  replacementAllowed,
  resourcesBelongToTenant,
  sendingIpsWithinTier,
} from "../../policies/rules";

const plan = (over: Record<string, unknown> = {}): StackResource => ({
  type: TENANT_PLAN,
  urn: "urn:pulumi:acme::p::" + TENANT_PLAN + "::tenant",
  name: "tenant",
  props: { tenant: "acme", tier: "starter", monthlyBudgetUsd: 25, ...over },
});
const server = (name: string, over: Record<string, unknown> = {}): StackResource => ({
  type: INSTANCE,
  urn: `urn:pulumi:acme::p::${INSTANCE}::${name}`,
  name,
  props: { tenant: "acme", plan: 101, billingCycle: "monthly", ...over },
});
const ips = (srv: string, n: number, tenant = "acme"): StackResource[] =>
  Array.from({ length: n }, (_, i) => ({
    type: SECONDARY_IP,
    urn: `urn:pulumi:acme::p::${SECONDARY_IP}::${srv}-ip${i + 1}`,
    name: `${srv}-ip${i + 1}`,
    props: { tenant },
    serverUrn: `urn:pulumi:acme::p::${INSTANCE}::${srv}`,
  }));

describe("policies", () => {
  test("sending IPs within the tier: at the limit passes, one over names tenant, tier, limit and count", () => {
    expect(sendingIpsWithinTier([plan(), server("mx1"), ...ips("mx1", 2)])).toEqual([]);
    expect(sendingIpsWithinTier([plan(), server("mx1"), ...ips("mx1", 3)])[0].message).toBe(
      "tenant acme (starter): 3 sending IPs, the starter tier allows 2; remove 1 or move the tenant to a larger tier",
    );
    expect(sendingIpsWithinTier([plan(), server("mx1"), ...ips("mx1", 3)], { tiers: { starter: { maxSendingIps: 3 } } })).toEqual([]);
  });

  test("IPs per server: counted per server, the violation names the server", () => {
    const rs = [plan({ tier: "growth", monthlyBudgetUsd: 500 }), server("mx1"), server("mx2"), ...ips("mx1", 5), ...ips("mx2", 3)];
    const v = ipsPerServerWithinLimit(rs);
    expect(v).toHaveLength(1);
    expect(v[0].message).toBe(
      "tenant acme (growth): server mx1 has 5 sending IPs, the growth tier allows 4 per server; spread them over more servers",
    );
  });

  test("monthly cost within budget, priced by the cost model", () => {
    const rs = [plan(), server("mx1"), ...ips("mx1", 2)];
    expect(projectedMonthlyUsd(rs)).toBe(14.97);
    expect(monthlyCostWithinBudget(rs)).toEqual([]);
    expect(monthlyCostWithinBudget([plan({ monthlyBudgetUsd: 10 }), ...rs.slice(1)])[0].message).toBe(
      "tenant acme (starter): projected cost $14.97/month is over the budget of $10.00/month by $4.97; remove servers or IPs, or raise monthlyBudgetUsd",
    );
    expect(projectedMonthlyUsd([plan(), server("mx1", { plan: 103, billingCycle: "annually" })])).toBe(17.09);
    expect(projectedMonthlyUsd(rs, { ipMonthlyPriceUsd: 3 })).toBe(10.99);
  });

  test("resources belong to the stack's tenant", () => {
    expect(resourcesBelongToTenant([plan(), server("mx1"), ...ips("mx1", 1)])).toEqual([]);
    const v = resourcesBelongToTenant([plan(), server("mx1"), ...ips("mx1", 1, "globex")]);
    expect(v[0].message).toBe(
      "SecondaryIp mx1-ip1 belongs to tenant globex, but this stack is tenant acme; a tenant cannot manage another's resources",
    );
    expect(resourcesBelongToTenant([server("mx1")])[0].message).toMatch(/no TenantPlan saying which tenant it is/);
    expect(resourcesBelongToTenant([plan(), plan()])[0].message).toMatch(/declares 2 tenants/);
  });

  test("the declared plan is checked before anything is bought", () => {
    expect(declaredPlanWithinLimits(plan({ sendingIps: 2, projectedMonthlyUsd: 14.97 }))).toEqual([]);
    const v = declaredPlanWithinLimits(plan({ sendingIps: 3, projectedMonthlyUsd: 30 }));
    expect(v.map((x) => x.message)).toEqual([
      "tenant acme (starter): the config asks for 3 sending IPs, the starter tier allows 2; remove 1 or move the tenant to a larger tier",
      "tenant acme (starter): the config costs $30.00/month, over the budget of $25.00/month by $5.00; remove servers or IPs, or raise monthlyBudgetUsd",
    ]);
  });

  test("advisory: a server that allows replacement is named with what it would lose", () => {
    expect(replacementAllowed([server("mx1"), ...ips("mx1", 2)])).toEqual([]);
    const [v] = replacementAllowed([server("mx1", { allowReplace: true }), ...ips("mx1", 2)]);
    expect(v.message).toMatch(
      /server mx1 of tenant acme allows replacement .*losing its mail data and its 2 sending IPs with their warm-up/,
    );
    expect(v.urn).toBe(`urn:pulumi:acme::p::${INSTANCE}::mx1`);
  });

  test("advisory: hourly billing on a mail server", () => {
    expect(hourlyBillingOnLongLivedServer(server("mx1"))).toEqual([]);
    expect(hourlyBillingOnLongLivedServer(server("mx1", { billingCycle: "hourly" }))[0].message).toMatch(
      /server mx1 of tenant acme is billed hourly/,
    );
  });

  test("advisory: a sending domain without SPF, DKIM or DMARC", () => {
    const rec = (type: string, name: string): StackResource => ({
      type: DNS_RECORD,
      urn: `urn:x::${type}-${name}`,
      name: `${type}-${name}`,
      props: { type, name },
    });
    const full = [
      rec("MX", "acme-mail.com"),
      rec("TXT", "acme-mail.com"),
      rec("TXT", "pm1._domainkey.acme-mail.com"),
      rec("TXT", "_dmarc.acme-mail.com"),
    ];
    expect(sendingDomainsAuthenticated(full)).toEqual([]);
    expect(sendingDomainsAuthenticated([rec("MX", "acme-mail.com"), rec("TXT", "acme-mail.com")])[0].message).toBe(
      "sending domain acme-mail.com has no DKIM (TXT at <selector>._domainkey.acme-mail.com), no DMARC (TXT at _dmarc.acme-mail.com); receivers will treat its mail as unauthenticated",
    );
  });
});
