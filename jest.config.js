/** Unit tests run on the TypeScript sources; engine tests drive the real Pulumi engine
 *  on the compiled program in dist/ (npm test builds it first). */
// Providers run in-process by unit tests have no backend, so their writer leases are this machine's
// (providers/lib/lease.ts): each checkout keeps its own, so two checkouts' suites never wait on each other.
process.env.PENGUINMAILS_LEASE_DIR ||= require("path").join(__dirname, ".pulumi-dev", "leases");

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
  testTimeout: 600000,
  verbose: true,
};
