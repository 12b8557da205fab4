/** Pure parts of the Hostwinds provider: input checks, diffs, settings, prices, rDNS claims. */
import { UNKNOWN, checkInputs } from "../../providers/lib/dynamic";
import { instanceInputsSchema, secondaryIpInputsSchema, serverName } from "../../providers/hostwinds/inputs";
import { provider as instance } from "../../providers/hostwinds/instance";
import { provider as secondaryIp } from "../../providers/hostwinds/secondary-ip";
import { monthlyPriceUsd } from "../../providers/model/pricing";
import { SettingsError, readSettings } from "../../providers/hostwinds/settings";
import { isDefaultRdns, planSchema } from "../../providers/hostwinds/wire";

/** What `fn` printed (the provider's progress lines, shown in a preview). */
async function captured(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const spy = jest.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

const good = { tenant: "acme", name: "mx1", stack: "acme", location: 2, plan: 102, template: "debian-12" };
const MARK = serverName({ backend: "", project: "", stack: "acme", tenant: "acme", server: "mx1" });
const stateOf = (over: Record<string, unknown> = {}) =>
  ({ ...good, billingCycle: "monthly", sshKeys: [], serviceId: 10001, serverName: MARK, status: "ACTIVE", ...over }) as never;

describe("input checks", () => {
  test("defaults are filled in and the derived server name is stable", () => {
    const r = checkInputs(instanceInputsSchema, "hostwinds.Instance", good);
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toEqual({ ...good, billingCycle: "monthly", sshKeys: [] });
    expect(serverName({ backend: "", project: "", stack: "acme", tenant: "acme", server: "mx1" })).toBe(MARK);
    expect(MARK).toMatch(/^pm-[0-9a-z]{14}$/);
  });

  test("every bad field gets its own failure naming the field and the reason", () => {
    const r = checkInputs(instanceInputsSchema, "hostwinds.Instance pm-acme-mx1", {
      ...good,
      tenant: "Acme Corp",
      location: 1.5,
      plan: "big",
      billingCycle: "weekly",
      colour: "blue",
    });
    const byField = Object.fromEntries((r.failures ?? []).map((f) => [f.property, f.reason]));
    expect(Object.keys(byField).sort()).toEqual(["billingCycle", "colour", "location", "plan", "tenant"]);
    expect(byField.tenant).toMatch(/^hostwinds.Instance pm-acme-mx1: tenant must be 1-32 lowercase letters/);
    expect(byField.plan).toMatch(/plan must be a number/);
    expect(byField.location).toMatch(/location must be a whole number/);
    expect(byField.billingCycle).toMatch(/must be one of hourly, monthly, quarterly/);
    expect(byField.colour).toMatch(/colour is not a known input/);
  });

  test("values unknown during a preview pass through and are checked once known", () => {
    const r = checkInputs(secondaryIpInputsSchema, "hostwinds.SecondaryIp", {
      tenant: "acme",
      serviceId: UNKNOWN,
      rdns: "mail1.acme.example",
    });
    expect(r.failures).toBeUndefined();
    expect(r.inputs?.serviceId).toBe(UNKNOWN);
    const bad = checkInputs(secondaryIpInputsSchema, "hostwinds.SecondaryIp", {
      tenant: "acme",
      serviceId: 5,
      rdns: "not a host",
      adoptIp: "300.1.1.1",
    });
    expect(bad.failures?.map((f) => f.property).sort()).toEqual(["adoptIp", "rdns"]);
  });
});

describe("diffs", () => {
  test("what Hostwinds cannot change in place replaces the server, deleting first; a rename is an update", async () => {
    expect(await instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [] } as never)).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(await instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [], name: "mx2" } as never)).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    const moved = await instance.diff!("10001", stateOf(), {
      ...good,
      location: 3,
      plan: 103,
      billingCycle: "annually",
      sshKeys: ["ops"],
      allowReplace: true,
    } as never);
    expect(moved.replaces).toEqual(["location", "billingCycle"]);
    expect(moved.deleteBeforeReplace).toBe(true);
  });

  test("a plan or SSH key change is made in place; a change that would replace is refused unless allowed, saying what is lost", async () => {
    for (const change of [{ plan: 103 }, { sshKeys: ["ops"] }]) {
      expect(await instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [], ...change } as never)).toEqual({
        changes: true,
        replaces: [],
        deleteBeforeReplace: false,
      });
    }
    for (const change of [{ location: 3 }, { billingCycle: "annually" }, { adoptServiceId: 10002 }]) {
      const refused = instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [], ...change } as never);
      await expect(refused).rejects.toThrow(/would replace server 10001: .*losing its mail data .*warm-up.* Refused\..*allowReplace: true/);
    }
  });

  test("an Instance's template is the image it was bought with: a change neither replaces nor updates it (OsImage reinstalls)", async () => {
    const lines = captured(async () =>
      expect(
        await instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [], template: "debian-13" } as never),
      ).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false }),
    );
    expect((await lines).join("\n")).toMatch(/not applied to server 10001: .*hostwinds\.OsImage/);
  });

  test("a server renamed in the panel is renamed back; one that is not up is updated (waited for)", async () => {
    expect(
      (
        await instance.diff!("10001", stateOf({ serverName: "renamed-by-hand" }), {
          ...good,
          billingCycle: "monthly",
          sshKeys: [],
        } as never)
      ).changes,
    ).toBe(true);
    expect(
      (await instance.diff!("10001", stateOf({ status: "BUILD" }), { ...good, billingCycle: "monthly", sshKeys: [] } as never)).changes,
    ).toBe(true);
  });

  test("adopting another server than the one in state is a replacement", async () => {
    expect(
      (await instance.diff!("10001", stateOf(), { ...good, billingCycle: "monthly", sshKeys: [], adoptServiceId: 10001 } as never))
        .replaces,
    ).toEqual([]);
    expect(
      (
        await instance.diff!("10001", stateOf(), {
          ...good,
          billingCycle: "monthly",
          sshKeys: [],
          adoptServiceId: 10002,
          allowReplace: true,
        } as never)
      ).replaces,
    ).toEqual(["adoptServiceId"]);
  });

  test("an IP's rDNS is updated in place; another server (or one not known yet) replaces it", async () => {
    const old = { tenant: "acme", serviceId: 10001, rdns: "a.acme.example", ip: "198.51.0.11" } as never;
    expect(await secondaryIp.diff!("198.51.0.11", old, { tenant: "acme", serviceId: 10001, rdns: "b.acme.example" } as never)).toEqual({
      changes: true,
      replaces: [],
    });
    expect(
      (await secondaryIp.diff!("198.51.0.11", old, { tenant: "acme", serviceId: UNKNOWN, rdns: "a.acme.example" } as never)).replaces,
    ).toEqual(["serviceId"]);
  });

  test("retiring an IP replaces only the resource holding it (new first: no deleteBeforeReplace)", async () => {
    const old = { tenant: "acme", serviceId: 10001, rdns: "a.acme.example", ip: "198.51.0.11", retire: [] } as never;
    const mine = await secondaryIp.diff!("198.51.0.11", old, {
      tenant: "acme",
      serviceId: 10001,
      rdns: "a.acme.example",
      retire: ["198.51.0.11"],
    } as never);
    expect(mine).toEqual({ changes: true, replaces: ["retire"] });
    const other = await secondaryIp.diff!("198.51.0.11", old, {
      tenant: "acme",
      serviceId: 10001,
      rdns: "a.acme.example",
      retire: ["198.51.0.99"],
    } as never);
    expect(other).toEqual({ changes: false, replaces: [] });
  });
});

describe("settings", () => {
  const cfg = (m: Record<string, string>) => (k: string) => m[k];

  test("config wins over the environment, defaults fill the rest", () => {
    const s = readSettings(cfg({ "hostwinds:apiKey": "config-key-123", "hostwinds:requestsPerSecond": "5" }), {
      HOSTWINDS_API_KEY: "env-key-123456",
      HOSTWINDS_POLL_INTERVAL_MS: "300",
    });
    expect(s).toMatchObject({ apiKey: "config-key-123", requestsPerSecond: 5, pollIntervalMs: 300, ipMonthlyPriceUsd: 4.99 });
    expect(readSettings(cfg({}), { HOSTWINDS_API_KEY: "env-key-123456" }).apiKey).toBe("env-key-123456");
  });

  test("every problem in one error naming the key; a bad key's value is never shown", () => {
    let err: unknown;
    try {
      readSettings(cfg({ "hostwinds:apiKey": "short", "hostwinds:apiUrl": "not a url", "hostwinds:pollIntervalMs": "soon" }), {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    const m = (err as Error).message;
    expect(m).toContain("config hostwinds:apiKey looks too short");
    expect(m).not.toContain('short"');
    expect(m).toContain("config hostwinds:apiUrl must be a URL");
    expect(m).toContain('config hostwinds:pollIntervalMs must be a number (got "soon")');
    expect(() => readSettings(cfg({}), {})).toThrow(
      /hostwinds:apiKey \(or HOSTWINDS_API_KEY\) is not set; set it with `pulumi config set --secret hostwinds:apiKey/,
    );
  });
});

describe("prices and rDNS claims", () => {
  const plan = planSchema.parse({
    id: 2,
    rid: 102,
    name: "2GB",
    monthly: "9.99",
    quarterly: "28.97",
    annually: "107.89",
    hourly: "0.0164",
  });

  test("every billing cycle becomes a monthly price", () => {
    expect(monthlyPriceUsd(plan, "monthly")).toBe(9.99);
    expect(monthlyPriceUsd(plan, "quarterly")).toBe(9.66);
    expect(monthlyPriceUsd(plan, "annually")).toBe(8.99);
    expect(monthlyPriceUsd(plan, "hourly")).toBe(11.97);
    expect(monthlyPriceUsd(plan, "biennially")).toBeUndefined();
  });

  test("an IP with no rDNS or Hostwinds' default is unclaimed; one with ours is not", () => {
    expect(isDefaultRdns(undefined, "198.51.0.11")).toBe(true);
    expect(isDefaultRdns("hwsrv-123456.hostwindsdns.com", "198.51.0.11")).toBe(true);
    expect(isDefaultRdns("198-51-0-11.static.example", "198.51.0.11")).toBe(true);
    expect(isDefaultRdns("ip1.mx1.acme.example", "198.51.0.11")).toBe(false);
  });
});
