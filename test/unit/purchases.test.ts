/** "Nothing was bought." is said only when true of the run, not just of the resource that failed. */
import { recordPurchase, truthfulAboutPurchases, withTruthfulPurchases } from "../../providers/lib/purchases";

describe("errors say what the run really bought", () => {
  test("with nothing ordered the message stands; after an order it is narrowed to the resource and names the order", async () => {
    const refusal = "hostwinds.Instance pm-b.mx2@b: server 10001 belongs to tenant a. Nothing was bought.";
    expect(truthfulAboutPurchases(refusal, [])).toBe(refusal);
    expect(truthfulAboutPurchases("x: refused. Nothing was bought or changed.", ["add_instance pm-b.mx1@b"])).toBe(
      "x: refused. Nothing was bought for it or changed; this run had already ordered: add_instance pm-b.mx1@b.",
    );

    const provider = withTruthfulPurchases({
      create: async () => {
        throw new Error(refusal);
      },
    });
    recordPurchase("add_instance pm-b.mx1@b");
    await expect(provider.create({})).rejects.toThrow(
      "server 10001 belongs to tenant a. Nothing was bought for it; this run had already ordered: add_instance pm-b.mx1@b.",
    );
  });
});
