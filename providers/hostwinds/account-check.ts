/**
 * The tenant config checked against the Hostwinds account before anything is bought, so every
 * mistake the account can reveal is found in `preview`: a location, plan, image or SSH key the account
 * does not have, a server to adopt that is not there (or not as described), and `pausedIps`,
 * `retireIps` or `adoptIps` naming an address that is not one of the server's secondary IPs.
 * A server not adopted is the one whose owner mark is this tenant's, stack's and server's.
 * Reads only, each list once per run: locations, price list, public images, SSH keys (when a server names
 * one), servers (when a server adopts, pauses or retires), and the IPs of those servers.
 */
import { HostwindsClient } from "./client";
import { parseServerName, serverName } from "./inputs";
import { Image, Instance, imageSlug } from "./wire";
import { findImage } from "./catalog";
import { BillingCycle, monthlyPriceUsd } from "../model/pricing";
import { Problem, Tenant } from "../model/tenant";

/** A template UUID (a snapshot's, say) is taken as it is: only Hostwinds' build can judge it. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const listed = (items: string[], max = 12) =>
  items.length === 0 ? "none" : items.length > max ? `${items.slice(0, max).join(", ")}, …` : items.join(", ");

/** `stack`: the stack whose servers are meant (a server's owner mark names it, providers/hostwinds/inputs.ts). */
export async function accountProblems(
  t: Tenant,
  stack: string,
  client: HostwindsClient,
  owner: { project: string; backend: string } = { project: "", backend: "" },
): Promise<Problem[]> {
  const out: Problem[] = [];
  const needsServers = t.servers.some((s) => s.adoptServiceId || s.adoptIps?.length || s.pausedIps.length || s.retireIps.length);
  const needsKeys = t.servers.some((s) => s.sshKeys.length);
  const [locations, plans, images, keys, instances] = await Promise.all([
    client.locations(),
    client.priceList(),
    client.images() as Promise<Image[]>,
    needsKeys ? client.sshKeys() : Promise.resolve([]),
    needsServers ? client.listInstances() : Promise.resolve([] as Instance[]),
  ]);

  for (const [i, s] of t.servers.entries()) {
    if (!locations.some((l) => l.id === s.location))
      out.push({
        path: ["servers", i, "location"],
        message: `expected a location of the Hostwinds account (${listed(locations.map((l) => `${l.id} ${l.name}`))})`,
      });
    const plan = plans.find((p) => p.rid === s.plan);
    if (!plan)
      out.push({
        path: ["servers", i, "plan"],
        message: `expected a plan rid in Hostwinds' price list (${listed(plans.map((p) => `${p.rid} ${p.name}`))})`,
      });
    else if (monthlyPriceUsd(plan, s.billingCycle as BillingCycle) === undefined)
      out.push({ path: ["servers", i, "billingCycle"], message: `expected a billing cycle Hostwinds prices plan ${plan.id} for` });
    if (!UUID.test(s.image) && !findImage(images, s.image))
      out.push({
        path: ["servers", i, "image"],
        message: `expected a public image of the account by name or UUID (${listed(images.map((x) => imageSlug(x.name)))}), or a template UUID`,
      });
    s.sshKeys.forEach((k, j) => {
      if (!keys.includes(k))
        out.push({
          path: ["servers", i, "sshKeys", j],
          message: `expected the name of an SSH key in the Hostwinds account (${listed(keys)})`,
        });
    });
  }
  if (!needsServers) return out;

  // The server each entry means: the adopted id, or the one bought under the derived name.
  await Promise.all(
    t.servers.map(async (s, i) => {
      let server: Instance | undefined;
      if (s.adoptServiceId) {
        server = instances.find((x) => x.serviceid === s.adoptServiceId);
        if (!server) {
          out.push({
            path: ["servers", i, "adoptServiceId"],
            message: "expected the id of a server in this Hostwinds account (see the panel or `fleet orphans`)",
          });
          return;
        }
        if (server.location_id !== undefined && server.location_id !== s.location)
          out.push({
            path: ["servers", i, "location"],
            message: `expected ${server.location_id}, the location of server ${server.serviceid} to adopt`,
          });
        // [assumed] product_id is the price list's id, as providers/hostwinds/instance.ts reads it.
        const rid = plans.find((p) => p.id === server!.product_id)?.rid;
        if (rid !== undefined && rid !== s.plan)
          out.push({ path: ["servers", i, "plan"], message: `expected ${rid}, the plan rid of server ${server.serviceid} to adopt` });
      } else {
        const mark = serverName({ ...owner, tenant: t.id, stack, server: s.name });
        const same = instances.filter((x) => parseServerName(x.srvrname)?.mark === mark);
        server = same.length === 1 ? same[0] : undefined;
      }
      const lists = (["pausedIps", "retireIps", "adoptIps"] as const).filter((k) => s[k]?.length);
      if (!lists.length) return;
      const secondary = server ? (await client.listIps(server.serviceid)).map((x) => x.ip).filter((ip) => ip !== server.main_ip) : [];
      const which = `server ${s.name}'s secondary IPs (${server ? listed(secondary) : "none: it is not bought yet"})`;
      for (const k of lists)
        s[k]!.forEach((ip, j) => {
          if (!secondary.includes(ip)) out.push({ path: ["servers", i, k, j], message: `expected one of ${which}` });
        });
    }),
  );
  return out.sort((a, b) => a.path.join(".").localeCompare(b.path.join(".")));
}
