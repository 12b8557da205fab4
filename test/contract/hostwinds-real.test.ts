/**
 * Read-only contract checks against the real Hostwinds API. They run only when
 * HOSTWINDS_API_KEY is set, and never buy, change or release anything.
 */
import { HostwindsClient } from "../../providers/hostwinds/client";

const key = process.env.HOSTWINDS_API_KEY;
const realApi = key && !process.env.HOSTWINDS_API_URL ? describe : describe.skip;
if (!key) {
  // Visible in the test output, so nobody mistakes a skip for a pass.
  console.log("contract tests against the real Hostwinds API skipped: HOSTWINDS_API_KEY is not set");
}

realApi("Hostwinds contract (read-only, real API)", () => {
  const c = () => new HostwindsClient({ apiKey: key! });
  test("get_locations parses", async () => expect((await c().locations()).length).toBeGreaterThan(0));
  test("get_price_list parses", async () => expect((await c().priceList()).length).toBeGreaterThan(0));
  test("get_instances parses", async () => expect(Array.isArray(await c().listInstances())).toBe(true));
});
