import { differences } from "../../service/tenants";

test("what differs between two configs of one tenant: each path, old → new", () => {
  const a = { id: "acme", tier: "starter", servers: [{ name: "mx1", sendingIps: 2 }], domains: [{ name: "acme-mail.com" }] };
  const b = {
    id: "acme",
    tier: "growth",
    servers: [{ name: "mx1", sendingIps: 3 }],
    domains: [{ name: "acme-mail.com" }, { name: "tryacme.io" }],
  };
  expect(differences(a, b)).toEqual([
    'domains[1]: absent → {"name":"tryacme.io"}',
    "servers[0].sendingIps: 2 → 3",
    'tier: "starter" → "growth"',
  ]);
  expect(differences(a, structuredClone(a))).toEqual([]);
});
