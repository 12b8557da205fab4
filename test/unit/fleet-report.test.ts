/** The fleet's pure parts: which change touches which tenant, sharding, and the PR report. */
import { ChangeCollector, TenantChange } from "../../scripts/lib/stacks/changes";
import { GITHUB_COMMENT_LIMIT, REPORT_MARKER, renderReport } from "../../scripts/cli/fleet/report";
import { effectOf } from "../../scripts/lib/stacks/tenants";
import { shardOf } from "../../scripts/cli/fleet";

const project = { root: "/repo", stacksDir: "stacks" };

function change(tenant: string, over: Partial<TenantChange> = {}): TenantChange {
  const c = new ChangeCollector(tenant).change;
  return { ...c, ...over };
}

describe("fleet", () => {
  test("a tenant's config touches that tenant; docs, tests, pipelines and dev tools none; everything else (unknown folders too) all", () => {
    expect(effectOf(project, "stacks/Pulumi.acme.yaml")).toEqual({ tenant: "acme" });
    for (const f of [
      "stacks/index.ts",
      "providers/model/tenant.ts",
      "components/mail-domain.ts",
      "providers/hostwinds/client.ts",
      "policies/rules.ts",
      "package-lock.json",
      "Pulumi.yaml",
      "tsconfig.json",
      "scripts/toolchain.sh",
      "scripts/lib/engine/pulumi-env.ts",
      "lib/new-folder.ts",
    ]) {
      expect([f, effectOf(project, f)]).toEqual([f, { everyTenant: true }]);
    }
    for (const f of [
      "README.md",
      "service/api.ts",
      "test/unit/x.test.ts",
      ".github/workflows/fleet-preview.yml",
      "scripts/dev/demo.ts",
      "scripts/dev/standins/hostwinds.ts",
      "stacks/notes/Pulumi.acme.yaml",
      "docs/runbook.md",
    ]) {
      expect([f, effectOf(project, f)]).toEqual([f, undefined]);
    }
  });

  test("shards split the tenants without overlap or loss, stably", () => {
    const t = Array.from({ length: 23 }, (_, i) => `t${i}`);
    const shards = [1, 2, 3, 4].map((k) => shardOf(t, k, 4));
    expect(shards.flat().sort()).toEqual([...t].sort());
    expect(shards.map((s) => s.length)).toEqual([6, 6, 6, 5]);
    expect(shardOf(t, 2, 4)).toEqual(shards[1]);
  });

  test("the report: marker, fleet total, one row per changed tenant with cost before → after, details collapsed", () => {
    const acme = change("acme", {
      costBeforeUsd: 14.97,
      costAfterUsd: 24.95,
      ips: { create: ["mx1-ip3", "mx1-ip4"], update: [], delete: [], replace: [] },
      dns: { create: ["a-mx1-ip3.acme-mail.com"], update: ["txt-acme-mail.com"], delete: [], replace: [] },
    });
    const globex = change("globex", { costBeforeUsd: 30, costAfterUsd: 30 });
    const initech = change("initech", {
      status: "blocked",
      costBeforeUsd: 10,
      costAfterUsd: 60,
      error: "over budget",
      policy: [
        {
          policy: "monthly-cost-within-budget",
          level: "mandatory",
          message: "tenant initech (scale): projected cost $60.00/month is over the budget",
        },
      ],
    });
    const r = renderReport([acme, globex, initech]);
    expect(r.startsWith(REPORT_MARKER)).toBe(true);
    expect(r).toContain("**3** tenants previewed, **2** with changes, **1 blocked by policy**.");
    expect(r).toContain("**Monthly cost: $54.97 → $114.95 (+$59.98)**");
    expect(r).toContain("| acme | ok | · | +2 | +1 ~1 | $14.97 → $24.95 (+$9.98) |");
    expect(r.indexOf("| initech |")).toBeLessThan(r.indexOf("| acme |")); // problems first
    expect(r).not.toContain("| globex |");
    expect(r).toContain("1 tenant without changes.");
    expect(r).toContain("<details><summary>acme: $14.97 → $24.95 (+$9.98)</summary>");
    expect(r).toContain("- sending IPs to buy: `mx1-ip3`, `mx1-ip4`");
    expect(r).toContain("- policy **violation** `monthly-cost-within-budget`");
  });

  test("500 tenants: the summary stays, details and then rows are trimmed under GitHub's comment limit, saying how many", () => {
    const many = Array.from({ length: 500 }, (_, i) =>
      change(`tenant-${String(i).padStart(3, "0")}`, {
        costBeforeUsd: 20,
        costAfterUsd: 25 + (i % 7),
        ips: { create: Array.from({ length: 4 }, (_, k) => `mx${k}-ip9`), update: [], delete: ["mx1-ip1"], replace: [] },
        dns: {
          create: Array.from({ length: 12 }, (_, k) => `a-mx${k}-ip9.tenant-${i}-mail.example.com`),
          update: ["txt-x"],
          delete: [],
          replace: [],
        },
      }),
    );
    const r = renderReport(many);
    expect(r.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(r).toContain("**500** tenants previewed, **500** with changes.");
    expect(r).toMatch(/\*\*Monthly cost: \$10000\.00 → \$\d+\.\d\d \(\+\$\d+\.\d\d\)\*\*/);
    expect(r).toMatch(/_Details of \d+ more tenants left out to stay under GitHub's comment size limit\._/);
    const rows = r.split("\n").filter((l) => l.startsWith("| tenant-")).length;
    expect(rows).toBeGreaterThan(100);
    if (rows < 500) expect(r).toContain(`| … ${500 - rows} more tenants with changes`);
    // The largest cost changes come first.
    expect(r.split("\n").find((l) => l.startsWith("| tenant-"))).toContain("(+$11.00)");
  });
});
