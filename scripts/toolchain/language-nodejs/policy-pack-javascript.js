// Loaded (node --require) before @pulumi/pulumi's cmd/run-policy-pack when the pack's
// PulumiPolicy.yaml says `runtime: {name: nodejs, options: {typescript: false}}` (main.go,
// RunPlugin): the pack runs its compiled JavaScript without TypeScript and ts-node.
//
// Why this is needed: the SDK's policy-pack runner reads no option for it. Its entry point passes
// `typeScript: !process.versions.bun` to ./run (sdk/nodejs/cmd/run-policy-pack/index.ts; upstream
// says "Should have no deleterious impact on JS codebases"), and run() then loads TypeScript, parses
// the pack's tsconfig.json and registers ts-node (vendored 7.0.1, type-checking on) in every run,
// whatever the pack is written in. The program runner, by contrast, reads PULUMI_NODEJS_TYPESCRIPT,
// which Pulumi.yaml's same option sets. So this file makes that one argument false: it loads the
// runner's ./run module (the one the entry point is about to require, same file, so the same
// module object) and wraps its run() to pass `typeScript: false`; everything else (error handling,
// exit codes, V8 hooks, the pack's own loading) is the SDK's.
"use strict";
const path = require("path");

const entry = process.argv[1] || "";
if (/[\\/]cmd[\\/]run-policy-pack([\\/]index(\.js)?)?$/.test(entry)) {
  const runner = require(path.join(entry.endsWith(".js") ? path.dirname(entry) : entry, "run"));
  const run = runner.run;
  if (typeof run === "function") runner.run = (opts) => run({ ...opts, typeScript: false });
}
