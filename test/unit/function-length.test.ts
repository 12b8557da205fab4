/**
 * No function outside the tests is over 80 lines unless it says why where eslint reads it (issue
 * 30: thin entry points): `// eslint-disable-next-line max-lines-per-function -- <why>` on the line
 * above. Those comments are the one list of long functions and their reasons; this test reads them.
 * eslint (eslint.config.mjs) enforces the limit; what it does not check is checked here: every such
 * comment gives a reason, and sits above a function still over the limit (the list only shrinks).
 * A function is what the TypeScript parser calls one (a declaration, a method, an arrow, a function
 * expression), measured as eslint's rule measures it (skipBlankLines, skipComments): its lines from
 * the first to the last, without blank lines and lines that are only comment; a function inside a
 * function is measured on its own too.
 * `npx jest test/unit/function-length` lists every function over the limit when this fails.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const LIMIT = 80;
const ROOT = path.resolve(__dirname, "../..");
const SCANNED = ["providers", "components", "stacks", "policies", "scripts", "service"];
const SKIPPED = /(^|\/)(node_modules|dist|scripts\/toolchain)\/|\.test\.ts$|\.d\.ts$/;
const DIRECTIVE = /\/\/ eslint-disable-next-line max-lines-per-function\b\s*(?:--\s*(.*))?/;

export interface LongFunction {
  file: string;
  name: string;
  line: number;
  lines: number;
  /** The reason the directive above it gives, or "" when there is a directive without one; undefined: none. */
  why?: string;
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

/** The file's lines that count: neither blank nor only comment (as eslint's skipBlankLines and skipComments). */
function countedLines(sf: ts.SourceFile): boolean[] {
  const text = sf.text;
  const inComment = new Uint8Array(text.length);
  const mark = (ranges: ts.CommentRange[] | undefined) => ranges?.forEach((r) => inComment.fill(1, r.pos, r.end));
  const visit = (node: ts.Node) => {
    mark(ts.getLeadingCommentRanges(text, node.pos));
    mark(ts.getTrailingCommentRanges(text, node.end));
    node.getChildren(sf).forEach(visit);
  };
  visit(sf);
  const counted: boolean[] = [];
  let pos = 0;
  for (const line of text.split("\n")) {
    let code = false;
    for (let i = 0; i < line.length && !code; i++) code = !/\s/.test(line[i]) && !inComment[pos + i];
    counted.push(code);
    pos += line.length + 1;
  }
  return counted;
}

/** Every function in the file over `limit` counted lines, with the reason its directive gives. */
export function longFunctions(file: string, text: string, limit = LIMIT): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const counted = countedLines(sf);
  const lines = text.split("\n");
  const found: LongFunction[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const n = counted.slice(start, end + 1).filter(Boolean).length;
      const directive = start > 0 ? DIRECTIVE.exec(lines[start - 1].trim()) : null;
      if (n > limit)
        found.push({
          file,
          name: functionName(node as ts.FunctionLikeDeclaration, sf),
          line: start + 1,
          lines: n,
          why: directive ? (directive[1] ?? "").trim() : undefined,
        });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The lines (1-based) of the file's `max-lines-per-function` directives. */
function directives(text: string): number[] {
  return text.split("\n").flatMap((l, i) => (DIRECTIVE.test(l.trim()) ? [i + 1] : []));
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
  const files = SCANNED.flatMap(sources).map((f) => ({ file: f, text: fs.readFileSync(path.join(ROOT, f), "utf8") }));
  const all = files.flatMap((f) => longFunctions(f.file, f.text));
  const key = (f: LongFunction) => `${f.file}: ${f.name} (line ${f.line}, ${f.lines} lines)`;

  test("none outside the tests, but those whose eslint directive says why", () => {
    expect(all.filter((f) => !f.why).map(key)).toEqual([]);
  });

  test("every directive is above a function still over the limit (the list only shrinks)", () => {
    const long = new Set(all.map((f) => `${f.file}:${f.line - 1}`));
    const stale = files.flatMap((f) => directives(f.text).map((l) => `${f.file}:${l}`)).filter((d) => !long.has(d));
    expect(stale).toEqual([]);
  });

  test("the measure: a function is its own lines but blank and comment-only ones, a nested one counted on its own", () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");
    const text =
      `function outer() {\n${body(79)}\n  const inner = () => {\n${body(81)}\n  };\n}\nconst short = () => 1;\n` +
      `function spaced() {\n${body(70)}\n\n  // a comment\n  /* and\n     a block */\n${body(8)} // not only comment\n}\n` +
      `// eslint-disable-next-line max-lines-per-function -- a reason\nconst said = () => {\n${body(81)}\n};\n`;
    expect(longFunctions("x.ts", text).map((f) => `${f.name} ${f.line} ${f.lines} ${f.why ?? "-"}`)).toEqual([
      "outer 1 164 -",
      "inner 81 83 -",
      "said 251 83 a reason",
    ]);
  });
});
