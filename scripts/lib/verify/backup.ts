/**
 * The backup check of `verify`: per server with backups, its repository read
 * from this machine (so it works while the server is gone): how many
 * snapshots, the newest one's age and the stored size. Older than the
 * stack's `backup.maxAgeHours`, no snapshot, or a repository that cannot be
 * opened: fail.
 */
import { CheckResult } from "./result";
import { ResticAccess, repositoryStatus } from "../restic";

export interface ServerBackup {
  repository: string;
  maxAgeHours: number;
  /** Secret output: how to open the repository. */
  access?: ResticAccess;
}

const hours = (ms: number) => (ms / 3_600_000 < 1 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);
export const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

export async function checkBackups(
  servers: Array<{ name: string; backup?: ServerBackup }>,
  now: Date = new Date(),
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const s of servers) {
    if (!s.backup) continue;
    const check = "backup";
    if (!s.backup.access) {
      out.push({
        check,
        subject: s.name,
        status: "unknown",
        detail: `no access to ${s.backup.repository} in the outputs (read them with secrets)`,
      });
      continue;
    }
    try {
      const st = await repositoryStatus(s.backup.access, ["--host", s.name]);
      if (!st.latest) {
        out.push({ check, subject: s.name, status: "fail", detail: `no snapshot in ${s.backup.repository}` });
        continue;
      }
      const age = now.getTime() - Date.parse(st.latest);
      const detail = `newest snapshot ${st.latestId} ${hours(age)} old (limit ${s.backup.maxAgeHours} h), ${st.snapshots} snapshot${st.snapshots === 1 ? "" : "s"}, ${mib(st.storedBytes)} stored`;
      out.push({ check, subject: s.name, status: age > s.backup.maxAgeHours * 3_600_000 ? "fail" : "pass", detail });
    } catch (e) {
      out.push({ check, subject: s.name, status: "fail", detail: `repository cannot be read: ${(e as Error).message}` });
    }
  }
  return out;
}
