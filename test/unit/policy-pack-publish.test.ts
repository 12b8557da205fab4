/**
 * The policy pack folder is self-contained, as `pulumi policy publish` needs (it packs the pack's
 * folder with npm and the service installs it from its package.json; Pulumi docs "Policy packs:
 * publish"): `npm pack` of policies/ holds PulumiPolicy.yaml, the `main` file, every file a packed
 * file requires, and package.json names every package they require.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { builtinModules } from "module";
import { parse as load } from "yaml";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";

const PACK = path.join(projectRoot, "policies");

jest.setTimeout(120_000);

describe("the policy pack is publishable", () => {
  beforeAll(() => {
    // The pack's own build (`npm run build` runs it too), so the packed files are today's.
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(PACK, "tsconfig.json")], { stdio: "inherit" });
  });

  test("npm pack of policies/ holds the code, and everything it loads is packed or a declared dependency", () => {
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: PACK,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const files = new Set(packed.files.map((f) => f.path));
    const pkg = JSON.parse(fs.readFileSync(path.join(PACK, "package.json"), "utf8")) as {
      main: string;
      dependencies: Record<string, string>;
    };
    expect(files.has("PulumiPolicy.yaml")).toBe(true);
    expect(files.has("package.json")).toBe(true);
    expect(pkg.main.startsWith("..")).toBe(false);
    expect(files.has(path.normalize(pkg.main))).toBe(true);
    // Compiled JavaScript only: no TypeScript at run time (scripts/toolchain/language-nodejs/javascript-only.js).
    expect((load(fs.readFileSync(path.join(PACK, "PulumiPolicy.yaml"), "utf8")) as { runtime: unknown }).runtime).toEqual({
      name: "nodejs",
      options: { typescript: false },
    });

    // Walk the requires from main: every local one resolves inside the pack, every package is declared.
    const root = JSON.parse(fs.readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const problems: string[] = [];
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      if (!files.has(file)) return void problems.push(`${file} is required but not packed`);
      if (!file.endsWith(".js")) return;
      const code = fs.readFileSync(path.join(PACK, file), "utf8");
      for (const m of code.matchAll(/require\("([^"]+)"\)/g)) {
        const spec = m[1];
        if (spec.startsWith(".")) {
          const base = path.normalize(path.join(path.dirname(file), spec));
          const hit = [base, `${base}.js`, `${base}.json`, path.join(base, "index.js")].find((c) => files.has(c));
          if (!hit) problems.push(`${file} requires ${spec}, which is not in the pack`);
          else visit(hit);
        } else {
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
          if (builtinModules.includes(name)) continue;
          if (!pkg.dependencies[name]) problems.push(`${file} requires ${name}, which policies/package.json does not list`);
          else if (root.dependencies[name] && root.dependencies[name] !== pkg.dependencies[name])
            problems.push(`${name} is ${pkg.dependencies[name]} in the pack but ${root.dependencies[name]} in the project`);
        }
      }
    };
    visit(path.normalize(pkg.main));
    expect(problems).toEqual([]);
    expect([...seen]).toEqual(expect.arrayContaining(["dist/policies/rules.js", "dist/providers/model/tiers.js"]));
  });
});
