/**
 * No stale deploys. Pulumi.yaml runs the compiled program (`main: dist/stacks/`, TypeScript off,
 * so the engine does not pay for a TypeScript compile on every run), the policy pack runs its own
 * compiled copy (policies/dist/) and the dynamic providers load dist/providers/ when the engine
 * calls them, also in a `destroy` that does not run the program. So an edit without `npm run
 * build` would deploy the old code, silently. Each of them first compares its compiled files with
 * the sources next to the build: any source newer than its compiled file stops the run, naming the
 * files and the command that fixes it. Where there are no sources (a published policy pack, a
 * deployed image) there is nothing to compare and nothing is checked. It costs one `stat` per
 * compiled file and its source (3-4 ms for the program's 48 files here; README "No stale deploys").
 */
import * as fs from "fs";
import * as path from "path";

export class StaleBuildError extends Error {
  override readonly name = "StaleBuildError";
}

/** The folder holding Pulumi.yaml at or above `from`, or undefined (no project: nothing to compare). */
function projectAbove(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Sources (relative to `sourceRoot`) newer than their compiled file under `distRoot`, for the
 * compiled `.js` files in `folders` of `distRoot` whose `.ts` exists in the same place under `sourceRoot`.
 */
export function staleSources(distRoot: string, sourceRoot: string, folders: readonly string[]): string[] {
  const stale: string[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(distRoot, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith(".js")) {
        const source = path.join(sourceRoot, r.slice(0, -3) + ".ts");
        let srcTime: number;
        try {
          srcTime = fs.statSync(source).mtimeMs;
        } catch {
          continue; // no source here (compiled elsewhere, or deleted): nothing to compare
        }
        if (srcTime > fs.statSync(path.join(distRoot, r)).mtimeMs) stale.push(r.slice(0, -3) + ".ts");
      }
    }
  };
  for (const f of folders) walk(f);
  return stale.sort();
}

/**
 * Throws when a source of `folders` changed after the build that holds this file. `what` names
 * the thing refused (the tenant program, the policy pack, a provider) in the message.
 */
export function assertFreshBuild(
  what: string,
  folders: readonly string[],
  // This file is <distRoot>/providers/lib/fresh-build.js in every build (the root dist/, policies/dist/).
  distRoot = path.resolve(__dirname, "..", ".."),
): void {
  const root = projectAbove(path.dirname(distRoot));
  if (!root) return;
  const stale = staleSources(distRoot, root, folders);
  if (!stale.length) return;
  const shown = stale.slice(0, 5).join(", ") + (stale.length > 5 ? ` and ${stale.length - 5} more` : "");
  throw new StaleBuildError(
    `${what}: the compiled code in ${path.relative(root, distRoot) || "."}/ is older than its sources (${shown} changed after the last build), ` +
      `so this run would deploy the old code. Run \`npm run build\` in ${root} and run the command again.`,
  );
}
