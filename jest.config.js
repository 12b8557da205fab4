/** Unit tests run on the TypeScript sources; engine tests drive the real Pulumi engine
 *  on the compiled program in dist/ (npm test builds it first). */

module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // ts-jest compiles module nodenext to CommonJS (as Node runs dist/) and says so per file (151002): quiet that note.
    // tsconfig.json's isolatedModules makes it transpile each file alone, without type-checking it and all it
    // imports once per test file (a unit file's compile: 70 s → 22 s at load 13); the types are checked by
    // `npm run build` (tsc over the tests too), which `npm test` runs first (its pretest).
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false, ignoreCodes: [151002] } }],
  },
  // Each worker keeps its own machine-local folders (test/worker-env.ts; scripts/lib/engine/pulumi-env.ts devDir).
  setupFiles: ["<rootDir>/test/worker-env.ts"],
  // The tests' stacks are encrypted by a Vault transit stand-in, not the passphrase (test/global-setup.ts).
  globalSetup: "<rootDir>/test/global-setup.ts",
  globalTeardown: "<rootDir>/test/global-teardown.ts",
  // Test files side by side. Most of an engine test's time is waiting (engines starting, stand-ins'
  // delays, apt in a server's chroot, Postgres held down on purpose), so three files share 2 cores well;
  // `--runInBand` (or `-w N`) on the command line wins over this.
  maxWorkers: 3,
  testTimeout: 600000,
  verbose: true,
};
