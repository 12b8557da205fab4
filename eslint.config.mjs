// Lint: typescript-eslint's recommended rules on every TypeScript file; formatting is prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The house: each floor imports only from the floors below it (README, "Where things live"). */
const below = (files, forbidden) => ({
  files,
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: forbidden.map((f) => ({
          group: [`**/${f}/**`, `**/${f}`],
          message: `${files[0]} must not import from ${f}/ (see README: Where things live)`,
        })),
      },
    ],
  },
});

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
  below(["providers/**/*.ts"], ["components", "stacks", "policies", "scripts", "test"]),
  below(["components/**/*.ts"], ["stacks", "policies", "scripts", "test"]),
  below(["stacks/**/*.ts", "policies/**/*.ts"], ["scripts", "test"]),
  below(["scripts/cli/**/*.ts"], ["dev", "test"]),
);
