/** `fleet list`: every tenant stack with its servers, sending IPs, monthly cost, last update and drift. */
import { TenantSummary, fleetList } from "../commands";
import { FleetCommand, selectFleet, usd } from "./command";

/** The table `list` prints: a header, one row per tenant, the totals. */
export function listTable(rows: TenantSummary[]): string[] {
  const sum = (f: (r: TenantSummary) => number) => rows.reduce((s, r) => s + f(r), 0);
  return [
    `${"tenant".padEnd(20)} ${"servers".padStart(7)} ${"IPs".padStart(4)} ${"$/month".padStart(9)}  ${"last update".padEnd(24)} drift`,
    ...rows.map(
      (r) =>
        `${r.tenant.padEnd(20)} ${String(r.servers).padStart(7)} ${String(r.sendingIps).padStart(4)} ${usd(r.monthlyCostUsd).padStart(9)}  ${(r.lastUpdate ?? "never").padEnd(24)} ${r.drift}${r.error ? ` (${r.error})` : ""}`,
    ),
    `${"total".padEnd(20)} ${String(sum((r) => r.servers)).padStart(7)} ${String(sum((r) => r.sendingIps)).padStart(4)} ${usd(sum((r) => r.monthlyCostUsd)).padStart(9)}`,
  ];
}

export const list: FleetCommand = {
  name: "list",
  summary: ["every tenant stack: servers, sending IPs, monthly cost, last update, drift"],
  async run(inv) {
    const { o, tenants } = selectFleet(inv);
    const rows = await fleetList(o, tenants);
    if (inv.json) console.log(JSON.stringify({ tenants: rows }, null, 1));
    else for (const l of listTable(rows)) console.log(l);
    return rows.some((r) => r.drift === "error") ? 1 : 0;
  },
};
