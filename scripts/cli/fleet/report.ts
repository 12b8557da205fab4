/**
 * The Markdown report of a fleet preview, for a pull-request comment: a
 * summary first (fleet total, then one row per tenant that changes, fails or
 * is blocked), then the details of each tenant collapsed. GitHub refuses
 * comments over 65,536 characters, so the details are dropped from the end
 * first, then summary rows, always saying how many were left out.
 */
import { Op, TenantChange } from "../../lib/stacks/changes";

export const GITHUB_COMMENT_LIMIT = 65_536;
/** The marker the pipeline finds its own comment by, to update it in place. */
export const REPORT_MARKER = "<!-- penguinmails-fleet-preview -->";

const usd = (n: number) => `$${n.toFixed(2)}`;
const delta = (n: number) => (Math.abs(n) < 0.005 ? "±$0.00" : `${n > 0 ? "+" : "−"}$${Math.abs(n).toFixed(2)}`);
const count = (r: Record<Op, string[]>) => ({
  add: r.create.length,
  remove: r.delete.length,
  replace: r.replace.length,
  update: r.update.length,
});

function moves(r: Record<Op, string[]>): string {
  const c = count(r);
  const parts = [
    c.add ? `+${c.add}` : "",
    c.remove ? `−${c.remove}` : "",
    c.replace ? `±${c.replace}` : "",
    c.update ? `~${c.update}` : "",
  ].filter(Boolean);
  return parts.join(" ") || "·";
}

const changes = (c: TenantChange) =>
  c.status !== "ok" ||
  [c.servers, c.ips, c.dns].some((r) => Object.values(r).some((l) => l.length)) ||
  c.serverSteps.length > 0 ||
  c.policy.length > 0;
const statusWord = (c: TenantChange) => (c.status === "ok" ? "ok" : c.status === "blocked" ? "**blocked by policy**" : "**failed**");
const costCell = (c: TenantChange) =>
  c.costAfterUsd === undefined
    ? `${usd(c.costBeforeUsd)} → ?`
    : `${usd(c.costBeforeUsd)} → ${usd(c.costAfterUsd)} (${delta(c.costAfterUsd - c.costBeforeUsd)})`;

function details(c: TenantChange): string {
  const lines: string[] = [];
  const list = (label: string, r: Record<Op, string[]>, verbs: Record<Op, string>) => {
    for (const op of ["create", "replace", "update", "delete"] as Op[])
      if (r[op].length) lines.push(`- ${label} ${verbs[op]}: ${r[op].map((n) => `\`${n}\``).join(", ")}`);
  };
  list("servers", c.servers, {
    create: "to buy",
    delete: "to release",
    replace: "to replace (buy new, then release)",
    update: "to change",
  });
  list("sending IPs", c.ips, {
    create: "to buy",
    delete: "to release",
    replace: "to replace (buy new, then release)",
    update: "to change (rDNS)",
  });
  list("DNS records", c.dns, { create: "to create", delete: "to delete", replace: "to recreate", update: "to update" });
  if (c.serverSteps.length) lines.push(`- on the servers: ${c.serverSteps.map((s) => `\`${s}\``).join(", ")}`);
  for (const p of c.policy)
    lines.push(`- policy ${p.level === "mandatory" ? "**violation**" : "advisory"} \`${p.policy}\`: ${p.message.replace(/\s+/g, " ")}`);
  if (c.error) lines.push(`- error: ${c.error.replace(/\s+/g, " ")}`);
  if (!lines.length) lines.push("- no changes");
  return `<details><summary>${c.tenant}: ${c.status === "ok" ? "" : `${c.status}, `}${costCell(c)}</summary>\n\n${lines.join("\n")}\n\n</details>`;
}

export interface ReportOptions {
  title?: string;
  maxChars?: number;
  footer?: string;
}

/** The report's summary: counts of tenants, of what is bought and released, and the fleet's cost before → after. */
function summary(results: TenantChange[], changed: TenantChange[], title: string): string[] {
  const before = results.reduce((s, c) => s + c.costBeforeUsd, 0);
  const after = results.reduce((s, c) => s + (c.costAfterUsd ?? c.costBeforeUsd), 0);
  const failed = results.filter((c) => c.status === "failed").length;
  const blocked = results.filter((c) => c.status === "blocked").length;
  const sum = (f: (c: TenantChange) => number) => results.reduce((s, c) => s + f(c), 0);
  return [
    REPORT_MARKER,
    `## ${title}`,
    "",
    `**${results.length}** tenant${results.length === 1 ? "" : "s"} previewed, **${changed.length}** with changes` +
      `${blocked ? `, **${blocked} blocked by policy**` : ""}${failed ? `, **${failed} failed**` : ""}.`,
    `Servers to buy ${sum((c) => c.servers.create.length)}, to release ${sum((c) => c.servers.delete.length)}; ` +
      `sending IPs to buy ${sum((c) => c.ips.create.length + c.ips.replace.length)}, to release ${sum((c) => c.ips.delete.length + c.ips.replace.length)}; ` +
      `DNS records changed ${sum((c) => Object.values(c.dns).reduce((n, l) => n + l.length, 0))}.`,
    `**Monthly cost: ${usd(before)} → ${usd(after)} (${delta(after - before)})**`,
    "",
  ];
}

/** The largest n in [0, hi] for which `fits(n)` holds (fits is monotone: true up to some n): a binary search. */
function largestFitting(hi: number, fits: (n: number) => boolean): number {
  let lo = 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function renderReport(results: TenantChange[], o: ReportOptions = {}): string {
  const max = o.maxChars ?? GITHUB_COMMENT_LIMIT - 1_000;
  const changed = results.filter(changes);
  const head = summary(results, changed, o.title ?? "Fleet preview");
  // Failures and blocks first, then the biggest cost changes.
  const rows = [...changed].sort(
    (a, b) =>
      (a.status === "ok" ? 1 : 0) - (b.status === "ok" ? 1 : 0) ||
      Math.abs((b.costAfterUsd ?? b.costBeforeUsd) - b.costBeforeUsd) - Math.abs((a.costAfterUsd ?? a.costBeforeUsd) - a.costBeforeUsd) ||
      a.tenant.localeCompare(b.tenant),
  );
  const table = [
    "| tenant | status | servers | IPs | DNS | monthly cost |",
    "|---|---|---|---|---|---|",
    ...rows.map((c) => `| ${c.tenant} | ${statusWord(c)} | ${moves(c.servers)} | ${moves(c.ips)} | ${moves(c.dns)} | ${costCell(c)} |`),
  ];
  const legend = "_+ buy/create, − release/delete, ± replace, ~ change_";
  const blocks = rows.map(details);
  const unchanged = results.length - changed.length;
  const tail = [unchanged ? `${unchanged} tenant${unchanged === 1 ? "" : "s"} without changes.` : "", o.footer ?? ""].filter(Boolean);

  const assemble = (nRows: number, nDetails: number) =>
    [
      ...head,
      ...table.slice(0, 2 + nRows),
      ...(nRows < rows.length
        ? [`| … ${rows.length - nRows} more tenants with changes (see the job's log or \`--json\`) | | | | | |`]
        : []),
      legend,
      "",
      ...(nDetails ? ["### Details", "", ...blocks.slice(0, nDetails)] : []),
      ...(nDetails < blocks.length
        ? [`_Details of ${blocks.length - nDetails} more tenants left out to stay under GitHub's comment size limit._`]
        : []),
      "",
      ...tail,
    ].join("\n");

  let nDetails = blocks.length;
  let nRows = rows.length;
  let text = assemble(nRows, nDetails);
  // Drop details from the end, then rows; a binary search keeps this fast at thousands of tenants.
  if (text.length > max) {
    nDetails = largestFitting(nDetails, (n) => assemble(nRows, n).length <= max);
    text = assemble(nRows, nDetails);
  }
  if (text.length > max) {
    nRows = largestFitting(nRows, (n) => assemble(n, 0).length <= max);
    text = assemble(nRows, 0);
  }
  return text;
}
