// Lint: typescript-eslint's recommended rules on every TypeScript file; formatting is prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import path from "node:path";

/**
 * The house: each floor imports only from its own room or the floors below it (README, "Where
 * things live"). One table, read bottom up; rooms on the same floor do not import each other.
 * Checked on every `import`, `export … from`, `import()` and `require()` of a relative path.
 */
const FLOORS = [
  ["providers/model"],
  ["providers/lib"],
  ["providers/hostwinds", "providers/cloudflare", "providers/ssh", "providers/dkim", "providers/tenant"],
  ["components"],
  ["stacks", "policies"],
  ["scripts/lib", "scripts/lib/engine", "scripts/lib/postgres"],
  ["scripts/lib/verify", "scripts/lib/stacks"],
  ["service"],
  ["scripts/cli"],
  ["scripts/dev"],
  ["test"],
];
const ROOMS = FLOORS.flatMap((rooms, floor) => rooms.map((room) => ({ room, floor }))).sort((a, b) => b.room.length - a.room.length);
const roomOf = (file) => {
  const rel = path
    .relative(import.meta.dirname, file)
    .split(path.sep)
    .join("/");
  return ROOMS.find(({ room }) => rel.startsWith(`${room}/`) && (room !== "scripts/lib" || !rel.slice(room.length + 1).includes("/")));
};
const house = {
  rules: {
    floors: {
      meta: { type: "problem", schema: [] },
      create(context) {
        const from = roomOf(context.filename);
        const check = (node, spec) => {
          if (!from || typeof spec !== "string" || !spec.startsWith(".")) return;
          const to = roomOf(path.resolve(path.dirname(context.filename), spec));
          if (!to || to.room === from.room || to.floor < from.floor) return;
          context.report({
            node,
            message: `${from.room}/ must not import ${to.room}/ (${to.floor > from.floor ? "a floor above" : "a room on the same floor"}; see README, "Where things live")`,
          });
        };
        return {
          ImportDeclaration: (n) => check(n, n.source.value),
          ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
          ExportAllDeclaration: (n) => check(n, n.source.value),
          ImportExpression: (n) => n.source.type === "Literal" && check(n, n.source.value),
          CallExpression: (n) =>
            n.callee.type === "Identifier" &&
            n.callee.name === "require" &&
            n.arguments[0]?.type === "Literal" &&
            check(n, n.arguments[0].value),
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "policies/dist/", ".pulumi-dev/", "scripts/toolchain/"] },
  js.configs.recommended,
  {
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { module: "writable", require: "readonly", __dirname: "readonly", process: "readonly" },
    },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-require-imports": "off",
      "@typescript-eslint/no-namespace": "off",
      // Errors are rewritten on purpose to name the tenant and resource without the raw response,
      // which may hold a root password or a key; chaining `cause` would print it again.
      "preserve-caught-error": "off",
    },
  },
  { files: ["**/*.ts"], plugins: { house }, rules: { "house/floors": "error" } },
  // Issue 30, "Thin entry points": no non-test function over 80 lines unless you write why
  // (`// eslint-disable-next-line max-lines-per-function -- <why>`). Tests are exempt: a test reads top to bottom.
  {
    files: ["**/*.ts"],
    ignores: ["test/**"],
    rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }] },
  },
);
