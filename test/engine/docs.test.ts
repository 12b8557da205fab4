/**
 * The docs show commands; each must exist as shown. For every command in a `sh` block or an
 * inline code span of README.md and docs/*.md: an `npm run` script must be in package.json, and
 * for the project's own commands (fleet, verify, service, demo, bench, sim) and `pulumi`, the
 * subcommand and every `--flag` must appear in that command's own `--help`. Nothing is run
 * against an account: a command that needs real ones is judged by its help alone.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { projectRoot, toolchainBin } from "../../scripts/lib/engine/pulumi-env";

const pages = ["README.md", ...fs.readdirSync(path.join(projectRoot, "docs")).map((f) => `docs/${f}`)].filter((f) => f.endsWith(".md"));
const scripts: Record<string, string> = JSON.parse(fs.readFileSync(path.join(projectRoot, "package.json"), "utf8")).scripts;
const entries: Record<string, string> = {
  fleet: "dist/scripts/cli/fleet.js",
  verify: "dist/scripts/cli/verify.js",
  service: "dist/service/main.js",
  demo: "dist/scripts/dev/demo.js",
  bench: "dist/scripts/dev/bench.js",
  sim: "dist/scripts/dev/sim.js",
};

/** The commands a page shows: lines of its `sh` blocks, and inline code spans that start with npm run or pulumi. */
function shownCommands(md: string): string[] {
  const out: string[] = [];
  let inSh = false;
  let joined = "";
  for (const line of md.split("\n")) {
    if (/^```/.test(line)) {
      inSh = !inSh && /^```(sh|bash)\s*$/.test(line);
      continue;
    }
    if (inSh) {
      joined += line.replace(/\\$/, " ");
      if (!line.endsWith("\\")) {
        out.push(joined.replace(/\s+#.*$/, "").trim());
        joined = "";
      }
    }
  }
  for (const m of md.matchAll(/`((?:npm run|pulumi) [^`]+)`/g)) out.push(m[1]);
  return out.flatMap((c) => c.split(/\s*&&\s*/)).filter((c) => /^(?:[A-Z_]+=\S*\s+)*(npm run|pulumi)\s/.test(c));
}

const helpCache = new Map<string, string>();
function help(cmd: string[], cwd = projectRoot): string {
  const key = cmd.join(" ");
  if (!helpCache.has(key)) {
    let text: string;
    try {
      text = execFileSync(cmd[0], [...cmd.slice(1), "--help"], {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 60_000,
      });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      text = `${err.stdout ?? ""}${err.stderr ?? ""}`;
    }
    helpCache.set(key, text);
  }
  return helpCache.get(key)!;
}

/** What is wrong with one shown command, or undefined. */
function problem(command: string): string | undefined {
  const words = command.replace(/^(?:[A-Z_]+=\S*\s+)+/, "").split(/\s+/);
  const flags = words
    .map((w) => w.replace(/^\[/, ""))
    .filter((w) => /^--[a-z]/.test(w) && w !== "--help")
    .map((w) => w.replace(/[=\]].*$/, ""));
  if (words[0] === "npm") {
    const script = words[2];
    if (!/^[a-z][a-z:-]*$/.test(script)) return undefined; // a placeholder such as `npm run …`
    if (!scripts[script]) return `npm script "${script}" is not in package.json`;
    const entry = entries[script];
    if (!entry || words[3] !== "--") return undefined;
    const text = help([process.execPath, path.join(projectRoot, entry)]);
    const sub = words[4] && !words[4].startsWith("-") && !words[4].startsWith("<") ? words[4] : undefined;
    if (sub && !new RegExp(`\\b${sub}\\b`).test(text))
      return `"${sub}" is not a command of npm run ${script} (its --help does not name it)`;
    const missing = flags.filter((f) => !text.includes(f));
    return missing.length ? `npm run ${script} --help does not know ${missing.join(", ")}` : undefined;
  }
  const sub = words.slice(1).filter((w, i, a) => !w.startsWith("-") && !w.startsWith("<") && (i === 0 || !a[i - 1].startsWith("-")));
  const subcommand = sub.slice(0, sub[0] === "config" || sub[0] === "stack" || sub[0] === "state" || sub[0] === "policy" ? 2 : 1);
  // `pulumi preview|up …` shows two commands at once: each must know the flags.
  for (const first of (subcommand[0] ?? "").split("|")) {
    const cmd = [first, ...subcommand.slice(1)].filter(Boolean);
    const text = help([path.join(toolchainBin(), "pulumi"), ...cmd]);
    if (!/Usage:/.test(text)) return `pulumi ${cmd.join(" ")} is not a pulumi command`;
    const missing = flags.filter((f) => !text.includes(f));
    if (missing.length) return `pulumi ${cmd.join(" ")} --help does not know ${missing.join(", ")}`;
  }
  return undefined;
}

describe("the commands the docs show exist as shown", () => {
  test.each(pages)("%s", (page) => {
    const commands = shownCommands(fs.readFileSync(path.join(projectRoot, page), "utf8"));
    const problems = commands.map((c) => [c, problem(c)]).filter(([, p]) => p !== undefined);
    expect(problems).toEqual([]);
  });

  test("the README shows the two commands a newcomer runs", () => {
    const readme = fs.readFileSync(path.join(projectRoot, "README.md"), "utf8");
    expect(readme).toContain("npm ci --ignore-scripts && npm run demo");
    expect(readme).toContain("npm ci --ignore-scripts && npm test");
    expect(shownCommands(readme)).toContain("npm run demo");
  });
});
