/** Owner marks, the order journal in a server's name, image names and the assumed wire shapes. */
import { markIs, parseServerName, serverName } from "../../providers/hostwinds/inputs";
import { joinName, orphanOrders, splitName } from "../../providers/hostwinds/orders";
import { findImage } from "../../providers/hostwinds/catalog";
import { instanceIpsSchema, purchasedIpIn } from "../../providers/hostwinds/wire";

describe("owner marks", () => {
  test("names a prefix scheme would confuse are different marks, parsed back exactly", () => {
    const a = serverName("alpha", "eu-mx1", "alpha");
    const b = serverName("alpha-eu", "mx1", "alpha-eu");
    expect(a).not.toBe(b);
    expect(parseServerName(a)).toEqual({ tenant: "alpha", server: "eu-mx1", stack: "alpha" });
    expect(parseServerName(b)).toEqual({ tenant: "alpha-eu", server: "mx1", stack: "alpha-eu" });
    expect(markIs(parseServerName(b), { tenant: "alpha" })).toBe(false);
    expect(markIs(parseServerName(a), { tenant: "alpha", stack: "other" })).toBe(false);
  });

  test("hand-made and old-style names are unmarked", () => {
    for (const n of ["pm-alpha-mx1", "legacy-box-7", "pm-Alpha.mx1@s", "pm-alpha.mx1", ""]) expect(parseServerName(n)).toBeUndefined();
  });
});

describe("the order journal in a server's name", () => {
  test("round trip, oldest first, the mark unchanged", () => {
    const mark = serverName("acme", "mx1", "acme.prod");
    const t1 = Date.UTC(2026, 10, 28, 5, 0, 0);
    const t2 = t1 + 61_000;
    const name = joinName(mark, [t2, t1]);
    expect(splitName(name)).toEqual({ mark, orders: [t1, t2] });
    expect(parseServerName(name)).toEqual({ tenant: "acme", server: "mx1", stack: "acme.prod" });
    expect(splitName(mark)).toEqual({ mark, orders: [] });
    expect(joinName(mark, [])).toBe(mark);
  });

  test("a `~` in someone else's server name is not a journal", () => {
    expect(splitName("my~box")).toEqual({ mark: "my~box", orders: [] });
  });

  test("orders no slot in state waits for are the orphans (matched to the second)", () => {
    expect(orphanOrders([1_000_000, 2_000_000, 3_000_000], [2_000_400])).toEqual([1_000_000, 3_000_000]);
  });
});

describe("evidence-shaped wire", () => {
  test("images by name, slug or UUID", () => {
    const images = [{ name: "Debian 12", uuid: "5f1a8c2e-0d3b-4e7a-9c61-2b8f4d0e7a13" }];
    expect(findImage(images, "debian-12")?.uuid).toBe(images[0].uuid);
    expect(findImage(images, "Debian 12")?.uuid).toBe(images[0].uuid);
    expect(findImage(images, images[0].uuid.toUpperCase())?.name).toBe("Debian 12");
    expect(findImage(images, "debian-13")).toBeUndefined();
  });

  test("get_instance_ips: PHP2's object and PM's bare array; rdns optional", () => {
    expect(instanceIpsSchema.parse({ "IP Addresses": [{ ip: "198.51.100.7" }] })).toEqual([{ ip: "198.51.100.7" }]);
    expect(instanceIpsSchema.parse([{ ip: "198.51.100.7", rdns: "a.example" }])).toEqual([{ ip: "198.51.100.7", rdns: "a.example" }]);
  });

  test("a purchase answer names an IP only if it says so", () => {
    expect(purchasedIpIn([{ result: "success", action: "Add IP", message: "ok" }])).toBeUndefined();
    expect(purchasedIpIn([{ result: "success", ip: "198.51.100.9" } as never])).toBe("198.51.100.9");
  });
});
