/**
 * The GitHub workflows pass actionlint (built from its Go module by scripts/dev/actionlint.sh; with
 * shellcheck when installed, as .ci/run does), actionlint does catch a broken workflow, and every
 * fleet command the workflows run exists.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";

const root = path.resolve(__dirname, "../..");
const lint = (...args: string[]) =>
  spawnSync("bash", [path.join(root, "scripts/dev/actionlint.sh"), ...args], { encoding: "utf8", timeout: 10 * 60_000 });
const workflows = fs.readdirSync(path.join(root, ".github/workflows")).filter((f) => f.endsWith(".yml"));

jest.setTimeout(10 * 60_000);

describe("GitHub workflows", () => {
  test("pass actionlint", () => {
    expect(workflows.sort()).toEqual(["checks.yml", "fleet-apply.yml", "fleet-nightly.yml", "fleet-preview.yml"]);
    const r = lint();
    // Findings are on stdout; stderr may carry a first-time build's progress, which is no finding.
    expect([r.status, r.stdout]).toEqual([0, ""]);
  });

  test("actionlint does catch a broken workflow", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wf-"));
    const bad = path.join(dir, "bad.yml");
    fs.writeFileSync(bad, "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n");
    const r = lint(bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`property "nope" is not defined`);
  });

  test("every fleet command a workflow runs is one the CLI has; the apply job has a concurrency group per tenant", () => {
    const help = spawnSync(process.execPath, [path.join(root, "dist/scripts/cli/fleet.js"), "--help"], { encoding: "utf8" }).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    for (const f of workflows) {
      const text = fs.readFileSync(path.join(root, ".github/workflows", f), "utf8");
      for (const m of text.matchAll(/fleet -- ([a-z]+)/g)) expect([f, commands.includes(m[1])]).toEqual([f, true]);
    }
    const apply = parse(fs.readFileSync(path.join(root, ".github/workflows/fleet-apply.yml"), "utf8")) as {
      jobs: { apply: { concurrency: { group: string; "cancel-in-progress": boolean } } };
    };
    expect(apply.jobs.apply.concurrency).toEqual({ group: "fleet-apply-${{ matrix.tenants }}", "cancel-in-progress": false });
  });

  test("the toolchain comes from the cache keyed by its inputs (Go's caches only on a miss); the PR checks run lint and unit tests", () => {
    type Step = { uses?: string; run?: string; if?: string; with?: Record<string, string> };
    type Workflow = { on: Record<string, unknown>; jobs: Record<string, { steps: Step[] }> };
    const read = (f: string) => parse(fs.readFileSync(path.join(root, f), "utf8")) as Workflow;
    for (const f of workflows) {
      for (const [name, job] of Object.entries(read(`.github/workflows/${f}`).jobs)) {
        const runs = job.steps.map((s) => s.run ?? "").join("\n");
        // A job that runs the engine (preview, up, drift) gets the toolchain through the cached action, never a bare build.
        if (/fleet -- (preview|up|drift|refresh)/.test(runs))
          expect([f, name, job.steps.some((s) => s.uses === "./.github/actions/toolchain")]).toEqual([f, name, true]);
        expect([f, name, /npm run toolchain|setup-go/.test(runs + job.steps.map((s) => s.uses ?? "").join(" "))]).toEqual([f, name, false]);
      }
    }
    const action = parse(fs.readFileSync(path.join(root, ".github/actions/toolchain/action.yml"), "utf8")) as { runs: { steps: Step[] } };
    const [toolchain, go, goCache, build] = action.runs.steps;
    for (const input of ["package-lock.json", "scripts/toolchain.sh", "scripts/toolchain/**"]) expect(toolchain.with!.key).toContain(input);
    expect(toolchain.with!.path).toContain("~/.cache/penguinmails-infra/toolchain");
    expect([go.uses, go.if, goCache.if]).toEqual([
      "actions/setup-go@v5",
      "steps.toolchain.outputs.cache-hit != 'true'",
      "steps.toolchain.outputs.cache-hit != 'true'",
    ]);
    expect(goCache.with!.path).toContain("~/go/pkg/mod");
    expect(goCache.with!.path).toContain("~/.cache/go-build");
    expect(goCache.with!.key).toContain("steps.go.outputs.go-version");
    expect(build.run).toBe("npm run toolchain");
    const checks = read(".github/workflows/checks.yml");
    expect(Object.keys(checks.on)).toEqual(["pull_request"]);
    expect(checks.jobs["lint-and-unit"].steps.map((s) => s.run).filter(Boolean)).toEqual([
      "npm ci --ignore-scripts",
      "npm run lint",
      "npm run test:unit",
    ]);
  });
});
