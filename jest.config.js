/** Unit tests run on the TypeScript sources; engine tests drive the real Pulumi engine
 *  on the compiled program in dist/ (npm test builds it first). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }] },
  testTimeout: 600000,
  verbose: true,
};
