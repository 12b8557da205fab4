/**
 * How the engine's Node processes are started: Node's compile cache outside the repo, and the
 * same V8 flags for the program everywhere it is run (the project, tests, benchmarks), so that
 * cached code is accepted (scripts/lib/engine/pulumi-env.ts).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { NODEJS_RUNTIME, compileCacheDir, projectRoot } from "../../scripts/lib/engine/pulumi-env";

describe("engine environment", () => {
  const saved = process.env.NODE_COMPILE_CACHE;
  afterEach(() => {
    if (saved === undefined) delete process.env.NODE_COMPILE_CACHE;
    else process.env.NODE_COMPILE_CACHE = saved;
  });

  it("keeps Node's compile cache in the temp folder, outside the repo, unless the caller chose one", () => {
    delete process.env.NODE_COMPILE_CACHE;
    const dir = compileCacheDir();
    expect(dir.startsWith(os.tmpdir())).toBe(true);
    expect(path.relative(projectRoot, dir).startsWith("..")).toBe(true);
    process.env.NODE_COMPILE_CACHE = "/somewhere/else";
    expect(compileCacheDir()).toBe("/somewhere/else");
  });

  it("runs the project's program with the runtime every generated program folder gets", () => {
    const project = parse(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8")) as { runtime: unknown };
    const generated = parse(NODEJS_RUNTIME) as { runtime: unknown };
    expect(project.runtime).toEqual(generated.runtime);
    expect(generated.runtime).toEqual({ name: "nodejs", options: { typescript: false, nodeargs: "--allow-natives-syntax" } });
  });
});
