/**
 * No function outside the tests is over 80 lines unless this file says why (issue 30: thin entry points).
 * Read with the TypeScript compiler's own parser, so a function is what the language calls one (a
 * declaration, a method, an arrow, a function expression), measured from its first to its last line;
 * a function inside a function is measured on its own too. service/ is not held to it yet.
 * `npx jest test/unit/function-length` lists every function over the limit when this fails.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const LIMIT = 80;
const ROOT = path.resolve(__dirname, "../..");
const SCANNED = ["providers", "components", "stacks", "policies", "scripts"];
const SKIPPED = /(^|\/)(node_modules|dist|scripts\/toolchain)\/|\.test\.ts$|\.d\.ts$/;

/**
 * Long on purpose: `file: name` → why it stays long. Every entry must still be over the limit
 * (a stale entry fails too, so the list only shrinks).
 */
const ALLOWED: Record<string, string> = {
  // A file under parallel edit: split with that work, not beside it.
  "scripts/dev/standins/hostwinds.ts: HostwindsSim.dispatch": "the stand-in's action table as one switch, in a file under parallel edit",
  // Development only (stand-ins, drills, benches): a script read top to bottom as the story it tells.
  "scripts/dev/standins/cloudflare.ts: CloudflareSim.handle": "the stand-in's route table as one switch, each case a few lines",
  "scripts/dev/standins/host-tools.ts: compose": "the Compose stand-in's subcommands as one switch, each case a few lines",
  "scripts/dev/bench/fleet-scale.ts: fleetScaleBench": "a benchmark's script: set up, measure each size, print the table",
  "scripts/dev/demo.ts: main": "the demo's script, one step after another as the README tells it",
  "scripts/dev/disaster.ts: disasterDrill": "the drill's script, one step after another as the runbook tells it",
  "scripts/dev/service-harness.ts: startServiceEnvironment": "starts the service's whole environment in dependency order",
  "scripts/dev/bench.ts: main": "the benchmark sections' flags and their order, read top to bottom",
  "scripts/dev/invariants.ts: runInvariants":
    "the harness: its operations as one seeded switch (each case a generator) and the invariants after each step",
  "scripts/dev/invariants.ts: up": "the harness's engine-like apply of one tenant (diff, create, update, delete in the engine's order)",
  "scripts/dev/invariants.ts: check": "the invariants after a step, one block each, read as the list the issue states",
  // A shell script as one template literal: its lines are the script the server runs, not TypeScript logic.
  "components/warmup-cap.ts: warmupJobScript": "the daily job's bash script, one template literal",
};

export interface LongFunction {
  file: string;
  name: string;
  line: number;
  lines: number;
}

/** The name a reader would look for: the declaration's, the variable's or property's it is assigned to, or where it is passed. */
function functionName(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))) {
    const owner = node.parent && ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : "";
    return `${owner}${node.name.text}`;
  }
  if (ts.isConstructorDeclaration(node)) return `${(node.parent as ts.ClassLikeDeclaration).name?.text ?? "class"}.constructor`;
  const p = node.parent;
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return p.name.text;
  if (ts.isPropertyDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isExportAssignment(p)) return "export =";
  if (ts.isCallExpression(p)) return `(passed to ${p.expression.getText(sf).slice(0, 40)})`;
  return "(anonymous)";
}

/** Every function in the file over `limit` lines. */
export function longFunctions(file: string, text: string, limit = LIMIT): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > limit)
        found.push({ file, name: functionName(node as ts.FunctionLikeDeclaration, sf), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (SKIPPED.test(e.isDirectory() ? `${rel}/` : rel)) return [];
    if (e.isDirectory()) return sources(rel);
    return rel.endsWith(".ts") ? [rel] : [];
  });
}

describe("functions over 80 lines", () => {
  const all = SCANNED.flatMap(sources).flatMap((f) => longFunctions(f, fs.readFileSync(path.join(ROOT, f), "utf8")));
  const key = (f: LongFunction) => `${f.file}: ${f.name}`;

  test("none outside the tests and service/, but those the allow-list says why", () => {
    const unexplained = all.filter((f) => !(key(f) in ALLOWED)).map((f) => `${key(f)} (line ${f.line}, ${f.lines} lines)`);
    expect(unexplained).toEqual([]);
  });

  test("every allow-list entry is still over the limit (the list only shrinks)", () => {
    const long = new Set(all.map(key));
    expect(Object.keys(ALLOWED).filter((k) => !long.has(k))).toEqual([]);
  });

  test("the measure: a function is its own lines, a nested one counted on its own", () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const text = `function outer() {\n${body(79)}\n  const inner = () => {\n${body(81)}\n  };\n}\nconst short = () => 1;\n`;
    expect(longFunctions("x.ts", text).map((f) => `${f.name} ${f.line} ${f.lines}`)).toEqual(["outer 1 164", "inner 81 83"]);
  });
});
