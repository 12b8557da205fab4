/** Unit tests run on the TypeScript sources; engine tests drive the real Pulumi engine
 *  on the compiled program in dist/ (npm test builds it first). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // ts-jest compiles module nodenext to CommonJS (as Node runs dist/) and says so per file (151002): quiet that note.
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false, ignoreCodes: [151002] } }],
  },
  testTimeout: 600000,
  verbose: true,
};
