/** Shared pieces of the engine tests: reading state folders and finding processes. */
import * as fs from "fs";
import * as path from "path";

/** Every file under a folder, read as text (state files, backups, history). */
export function readAll(dir: string): string {
  if (!fs.existsSync(dir)) return "";
  let out = "";
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out += e.isDirectory() ? readAll(p) : fs.readFileSync(p).toString("utf8");
  }
  return out;
}

/** Pids of the descendants of `pid` whose command line contains `needle`. */
export function descendantsMatching(pid: number, needle: string): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      try {
        if (fs.readFileSync(`/proc/${c}/cmdline`, "utf8").includes(needle)) out.push(c);
      } catch {
        // gone
      }
      walk(c);
    }
  };
  walk(pid);
  return out;
}
