/**
 * No stale deploys (providers/lib/fresh-build.ts): the compiled program, policy pack and providers
 * refuse to run when a source changed after the build, naming the files and `npm run build`.
 * The guard runs here as the engine runs it: compiled, in a node process, from a project's dist/.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";
import { staleSources } from "../../providers/lib/fresh-build";

const SOURCE = path.join(__dirname, "..", "..", "providers", "lib", "fresh-build.ts");

describe("no stale deploys", () => {
  let root = "";
  const write = (rel: string, text: string, mtime: number) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    fs.utimesSync(p, mtime, mtime);
  };
  const t0 = Math.floor(Date.now() / 1000) - 600;
  const program = () => spawnSync(process.execPath, [path.join(root, "dist", "stacks", "index.js")], { encoding: "utf8" });

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pm-fresh-build-"));
    write("Pulumi.yaml", "name: p\nruntime: nodejs\nmain: dist/stacks/\n", t0);
    const guard = ts.transpileModule(fs.readFileSync(SOURCE, "utf8"), { compilerOptions: { module: ts.ModuleKind.CommonJS } }).outputText;
    // Sources first, then the build (later mtimes), as `npm run build` leaves them.
    write("stacks/index.ts", "// the program\n", t0);
    write("components/mail-server.ts", "// a component\n", t0);
    write("providers/lib/fresh-build.ts", "// the guard\n", t0);
    write("dist/providers/lib/fresh-build.js", guard, t0 + 10);
    write(
      "dist/stacks/index.js",
      'require("../providers/lib/fresh-build").assertFreshBuild("the tenant program", ["stacks", "components", "providers"]);\nconsole.log("ran");\n',
      t0 + 10,
    );
    write("dist/components/mail-server.js", "// compiled\n", t0 + 10);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test("a fresh build runs", () => {
    expect(staleSources(path.join(root, "dist"), root, ["stacks", "components", "providers"])).toEqual([]);
    const r = program();
    expect([r.status, r.stdout]).toEqual([0, "ran\n"]);
  });

  test("a source edited after the build stops the run, naming it and the command that fixes it", () => {
    write("components/mail-server.ts", "// edited, not built\n", t0 + 20);
    const r = program();
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/StaleBuildError\]?: the tenant program: the compiled code in dist\/ is older than its sources/);
    expect(r.stderr).toContain(`components/mail-server.ts changed after the last build`);
    expect(r.stderr).toContain(`Run \`npm run build\` in ${root}`);
    // Building again (newer compiled files) lets it run.
    write("dist/components/mail-server.js", "// compiled again\n", t0 + 30);
    expect(program().status).toBe(0);
  });

  test("without sources (a published pack, a deployed image) there is nothing to compare", () => {
    fs.rmSync(path.join(root, "Pulumi.yaml"));
    write("components/mail-server.ts", "// edited\n", t0 + 20);
    expect(program().status).toBe(0);
  });

  // Its cost is a figure, not an assertion (a loaded machine stretches any time): printed here, well under 50 ms quiet.
  test("the check runs on the project's own dist/ (when built), its time printed", () => {
    const dist = path.join(__dirname, "..", "..", "dist");
    if (!fs.existsSync(dist)) return;
    const start = process.hrtime.bigint();
    expect(() => staleSources(dist, path.join(dist, ".."), ["stacks", "components", "providers"])).not.toThrow();
    console.log(`fresh-build check of dist/: ${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(1)} ms`);
  });
});
