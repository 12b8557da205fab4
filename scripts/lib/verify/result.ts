/** One line of `verify`'s table, and how the table and the JSON are printed. */
export type Status = "pass" | "fail" | "warn" | "unknown";
export interface CheckResult {
  check: string;
  subject: string;
  status: Status;
  detail: string;
}

export function renderTable(results: CheckResult[]): string {
  const w = (k: keyof CheckResult) => Math.max(k.length, ...results.map((r) => r[k].length));
  const [c, s] = [Math.min(w("check"), 24), Math.min(w("subject"), 44)];
  const line = (r: Pick<CheckResult, "check" | "subject" | "status" | "detail">) =>
    `${r.check.padEnd(c)}  ${r.subject.padEnd(s)}  ${r.status.toUpperCase().padEnd(7)}  ${r.detail}`;
  const counts = (["pass", "fail", "warn", "unknown"] as Status[])
    .map((st) => `${results.filter((r) => r.status === st).length} ${st}`)
    .join(", ");
  return [`${"check".padEnd(c)}  ${"subject".padEnd(s)}  ${"result".padEnd(7)}  detail`, ...results.map(line), "", counts].join("\n");
}

export const failed = (results: CheckResult[]) => results.some((r) => r.status === "fail");
