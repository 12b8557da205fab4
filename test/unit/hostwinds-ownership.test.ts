/** Owner marks, the order journal in a server's name, image names and the assumed wire shapes. */
import {
  MAX_SERVER_NAME,
  ServerOwner,
  backendFingerprint,
  parseServerName,
  serverName,
  stackTag,
  tenantTag,
} from "../../providers/hostwinds/inputs";
import { MAX_OPEN_ORDERS, joinName, orphanOrders, splitName } from "../../providers/hostwinds/orders";
import { findImage } from "../../providers/hostwinds/catalog";
import { instanceIpsSchema, purchasedIpIn } from "../../providers/hostwinds/wire";
import { panelName } from "../../scripts/dev/standins/hostwinds";

const owner = (over: Partial<ServerOwner> = {}): ServerOwner => ({
  backend: "0a1b2c3d",
  project: "penguinmails-infra",
  stack: "alpha",
  tenant: "alpha",
  server: "eu-mx1",
  ...over,
});

describe("owner marks", () => {
  test("names a prefix scheme would confuse are different marks; each part of the owner changes the mark", () => {
    const a = serverName(owner());
    const b = serverName(owner({ tenant: "alpha-eu", server: "mx1", stack: "alpha-eu" }));
    expect(a).not.toBe(b);
    for (const k of ["backend", "project", "stack", "tenant", "server"] as const)
      expect(serverName(owner({ [k]: `${owner()[k]}x` }))).not.toBe(a);
    expect(parseServerName(a)).toEqual({ mark: a, tenantTag: tenantTag("alpha"), stackTag: stackTag(owner()) });
    // The same stack name on another backend: same tenant, another stack tag.
    const elsewhere = parseServerName(serverName(owner({ backend: "ffffffff" })))!;
    expect(elsewhere.tenantTag).toBe(tenantTag("alpha"));
    expect(elsewhere.stackTag).not.toBe(stackTag(owner()));
  });

  test("a mark uses only what any panel keeps: lowercase letters, digits, one dash; with a full journal at most 32 characters", () => {
    const name = joinName(
      serverName(owner({ stack: "A.Very_Long-Stack.Name".repeat(4) })),
      [1, 2, 3].map((i) => Date.now() - i * 60_000),
    );
    expect(name).toMatch(/^pm-[0-9a-z]+$/);
    expect(name.length).toBeLessThanOrEqual(MAX_SERVER_NAME);
    // The stand-in's panel rewrite (drop @ and ~, lower-case, cut at 32) leaves it whole.
    expect(panelName(name)).toBe(name);
  });

  test("hand-made and old-style names are unmarked", () => {
    for (const n of ["pm-alpha-mx1", "legacy-box-7", "pm-alpha.mx1@alpha", "pm-ABCDEFGHIJKLMN", "pm-abc", ""])
      expect(parseServerName(n)).toBeUndefined();
  });

  test("the backend fingerprint: from PULUMI_BACKEND_URL, without user and password", () => {
    const a = backendFingerprint({ PULUMI_BACKEND_URL: "postgres://u:secret@db.example/state" });
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(backendFingerprint({ PULUMI_BACKEND_URL: "postgres://u:rotated@db.example/state" })).toBe(a);
    expect(backendFingerprint({ PULUMI_BACKEND_URL: "postgres://db.example/other" })).not.toBe(a);
    expect(backendFingerprint({ PULUMI_HOME: "/nonexistent-pulumi-home" })).toBe("");
  });
});

describe("the order journal in a server's name", () => {
  test("round trip, oldest first, the mark unchanged", () => {
    const mark = serverName(owner({ stack: "acme.prod" }));
    const now = Date.UTC(2026, 11, 2, 5, 0, 0);
    const t1 = now - 3 * 3600_000;
    const t2 = t1 + 61_000;
    const name = joinName(mark, [t2, t1]);
    expect(splitName(name, now)).toEqual({ mark, orders: [t1, t2] });
    expect(parseServerName(name)?.mark).toBe(mark);
    expect(splitName(mark)).toEqual({ mark, orders: [] });
    expect(joinName(mark, [])).toBe(mark);
  });

  test("at most three open orders: a fourth is refused before anything is ordered", () => {
    const mark = serverName(owner());
    const t = Date.now();
    expect(() => joinName(mark, [t, t + 1000, t + 2000, t + 3000])).toThrow(/holds at most 3/);
    expect(MAX_OPEN_ORDERS).toBe(3);
  });

  test("someone else's server name is not a journal", () => {
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
