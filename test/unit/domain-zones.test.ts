import { domainZones, needsZoneList, registrableProblem, zoneOfDomain } from "../../providers/model/zones";

describe("the zone of a sending domain", () => {
  test("the longest suffix among the zones the token sees", () => {
    const zones = ["globex.io", "mail.globex.io", "tryacme.io", "acme-mail.com"];
    expect(zoneOfDomain("tryacme.io", zones)).toBe("tryacme.io");
    expect(zoneOfDomain("out.mail.globex.io", zones)).toBe("mail.globex.io");
    expect(zoneOfDomain("news.globex.io", zones)).toBe("globex.io");
    // A suffix of the text that is not a parent name is no match.
    expect(zoneOfDomain("notacme-mail.com", zones)).toBeUndefined();
  });

  test("the config settles the first domain and named zones, so an existing stack asks Cloudflare nothing", () => {
    expect(needsZoneList([{ name: "acme-mail.com" }], "acme-mail.com")).toBe(false);
    expect(needsZoneList([{ name: "mail.globex.io" }], "globex.io")).toBe(false);
    expect(needsZoneList([{ name: "acme-mail.com" }, { name: "tryacme.io", zone: "tryacme.io" }], "acme-mail.com")).toBe(false);
    expect(needsZoneList([{ name: "acme-mail.com" }, { name: "tryacme.io" }], "acme-mail.com")).toBe(true);
  });

  test("each domain's zone, or a line naming the tenant, the domain and what to do", () => {
    const domains = [{ name: "acme-mail.com" }, { name: "tryacme.io" }, { name: "acmeoutreach.com" }];
    expect(domainZones("acme", domains, "acme-mail.com", ["acme-mail.com", "tryacme.io"])).toEqual({
      zones: ["acme-mail.com", "tryacme.io", ""],
      problems: [
        "tenant acme: tenant.domains[2] acmeoutreach.com: no zone the Cloudflare token can see holds it (it sees acme-mail.com, tryacme.io); add the zone in Cloudflare and give the token access to it, or name it with domains[2].zone",
      ],
    });
  });
});

describe("a registrable domain", () => {
  test("a domain under a public suffix, or a name under one; not a suffix, an IP or a private name", () => {
    expect(registrableProblem("tryacme.io")).toBeUndefined();
    expect(registrableProblem("mail.globex.io")).toBeUndefined();
    expect(registrableProblem("co.uk")).toBe(
      "co.uk is not a registrable domain (its public suffix is co.uk); give a domain registered with a registrar, such as acme-mail.com, or a name under one",
    );
    expect(registrableProblem("acme.internal")).toMatch(/is not a registrable domain/);
  });
});
