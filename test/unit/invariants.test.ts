/**
 * The invariants harness (scripts/dev/invariants.ts), a short seeded run: random operations on
 * three tenants sharing a Hostwinds account and a Cloudflare zone, every invariant checked after
 * every step. The long run is `npm run bench -- --only invariants`. A failing seed is printed with
 * its step and is replayed with `--seed N --steps S`.
 *
 * And findings mode: each finding of issue 31 put back by its switch (a shim on the harness's side)
 * is found by the harness, as a violation of the invariant it breaks, within its fixed seed and steps.
 */
import { FINDINGS, Finding, processFrom, runFindings, runInvariants } from "../../scripts/dev/invariants";

const fresh = () => {
  let p!: ReturnType<typeof processFrom>;
  jest.isolateModules(() => {
    p = processFrom((m) => require(m));
  });
  return p;
};

test("a short seeded run keeps every invariant (seed and step printed on failure)", async () => {
  const seed = Number(process.env.INVARIANTS_SEED ?? 7);
  const lines: string[] = [];
  const r = await runInvariants({ seed, steps: Number(process.env.INVARIANTS_STEPS ?? 30), fresh, log: (l) => lines.push(l) });
  if (r.violations.length) console.log(lines.join("\n"));
  expect({ seed, violations: r.violations }).toEqual({ seed, violations: [] });
  expect(r.invariantsChecked).toBeGreaterThan(r.steps);
}, 900_000); // a generous ceiling: 30 steps took 118 s at load 33

describe("findings mode: every finding of issue 31, put back, is found", () => {
  test.each(Object.keys(FINDINGS) as Finding[])(
    "%s",
    async (finding) => {
      const lines: string[] = [];
      const [r] = await runFindings(fresh, [finding], (l) => lines.push(l));
      if (!r.found || r.control.length) console.log(lines.join("\n"));
      // Switch off, the same operations keep every invariant.
      expect({ finding, control: r.control }).toEqual({ finding, control: [] });
      expect({ finding, found: r.found?.invariant }).toEqual({
        finding,
        found: expect.stringMatching(new RegExp(`^(${FINDINGS[finding].invariants.join("|")})$`)),
      });
    },
    900_000, // a generous ceiling for a loaded machine
  );
});
