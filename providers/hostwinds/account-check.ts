/**
 * The tenant config checked against the Hostwinds account before anything is bought, so every
 * mistake the account can reveal is found in `preview`: a location, plan, image or SSH key the account
 * does not have, a server to adopt that is not there (or not as described), and `pausedIps`,
 * `retireIps` or `adoptIps` naming an address that is not one of the server's secondary IPs.
 * A server not adopted is the one whose owner mark is this tenant's, stack's and server's.
 * Reads only what the config needs, each list once per run (see accountProblems); a read whose answer
 * has another shape fails this tenant's preview only, naming the action and the shape that came back.
 */
import { HostwindsClient, UnexpectedShapeError, isRefusal } from "./client";
import { parseServerName, serverName } from "./inputs";
import { Image, Instance, Plan, UUID, imageSlug } from "./wire";
import { checkedInCatalog, findImage } from "./catalog";
import { BillingCycle, monthlyPriceUsd } from "../model/pricing";
import { Problem, Tenant } from "../model/tenant";

const listed = (items: string[], max = 12) =>
  items.length === 0 ? "none" : items.length > max ? `${items.slice(0, max).join(", ")}, …` : items.join(", ");

/** The ASSUMPTIONS entry (providers/hostwinds/wire.ts) each catalogue read rests on. */
const ASSUMED: Record<string, string> = {
  get_locations: "get_locations answers a list of {id, name}",
  get_public_images: "get_public_images answers a list of {uuid, name}",
  get_ssh_keys: "get_ssh_keys lists the account's SSH key names",
};

/** What one read gave: its value, or the problem that stops this tenant's preview (the read named, with the answer's shape). */
type Read<T> = { ok: true; value: T; cached?: boolean } | { ok: false; why: string };

/**
 * One catalogue read: an answer of another shape fails this tenant's preview naming the action and
 * what came back; a refusal (unknown action, a key that may not read it) falls back to the cached
 * catalogue (catalog.json, `fleet catalog` / `fleet probe`), when there is one for it.
 */
async function read<T>(action: string, call: () => Promise<T>, cached?: () => T): Promise<Read<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (e) {
    const assumption = ASSUMED[action] ? ` (ASSUMPTIONS: "${ASSUMED[action]}")` : "";
    if (e instanceof UnexpectedShapeError)
      return {
        ok: false,
        why: `could not be checked: Hostwinds ${action} answered in an unexpected shape: ${e.where}; the answer was ${e.shape}${assumption}`,
      };
    if (isRefusal(e) && cached) return { ok: true, value: cached(), cached: true };
    if (isRefusal(e)) return { ok: false, why: `could not be checked: Hostwinds refused ${action}: ${e.detail}${assumption}` };
    throw e;
  }
}

/**
 * `stack`, `owner`: the stack, project and backend whose servers are meant (a server's owner mark,
 * providers/hostwinds/inputs.ts). Reads only what the config needs: the price list and locations
 * always (the checked-in catalogue when Hostwinds refuses them), public images only when a server
 * names its image rather than giving a template UUID, SSH keys only when a server names one, the
 * servers only when one is adopted or has IPs paused, retired or adopted.
 */
export async function accountProblems(
  t: Tenant,
  stack: string,
  client: HostwindsClient,
  owner: { project: string; backend: string } = { project: "", backend: "" },
): Promise<Problem[]> {
  const needsServers = t.servers.some((s) => s.adoptServiceId || s.adoptIps?.length || s.pausedIps.length || s.retireIps.length);
  const needsKeys = t.servers.some((s) => s.sshKeys.length);
  const needsImages = t.servers.some((s) => s.image !== undefined && !UUID.test(s.image));
  const none = <T>(value: T): Read<T> => ({ ok: true, value });
  const [locationsRead, plansRead, imagesRead, keysRead, instances] = await Promise.all([
    read(
      "get_locations",
      () => client.locations(),
      () => checkedInCatalog().locations,
    ),
    read(
      "get_price_list",
      () => client.priceList(),
      () => checkedInCatalog().plans,
    ),
    needsImages ? read("get_public_images", () => client.images() as Promise<Image[]>) : none<Image[]>([]),
    needsKeys ? read("get_ssh_keys", () => client.sshKeys()) : none<string[]>([]),
    needsServers ? client.listInstances() : Promise.resolve([] as Instance[]),
  ]);
  const reads = { locationsRead, plansRead, imagesRead, keysRead };
  if (!needsServers) return t.servers.flatMap((s, i) => catalogueProblems(s, i, reads));
  // The server each entry means: the adopted id, or the one bought under the derived name.
  const adopted = await Promise.all(t.servers.map((s, i) => serverProblems(s, i, { t, stack, client, owner, instances, plansRead })));
  return [...t.servers.flatMap((s, i) => catalogueProblems(s, i, reads)), ...adopted.flat()].sort((a, b) =>
    a.path.join(".").localeCompare(b.path.join(".")),
  );
}

type Server = Tenant["servers"][number];
/** The account's catalogue as read once per run: locations, plans, images and SSH keys. */
interface Catalogue {
  locationsRead: Read<Array<{ id: number; name: string }>>;
  plansRead: Read<Plan[]>;
  imagesRead: Read<Image[]>;
  keysRead: Read<string[]>;
}

/** Server i's location, plan, billing cycle, image and SSH keys against the account's catalogue. */
function catalogueProblems(s: Server, i: number, { locationsRead, plansRead, imagesRead, keysRead }: Catalogue): Problem[] {
  const out: Problem[] = [];
  const fail = (i: number, field: string, r: { ok: false; why: string }) => out.push({ path: ["servers", i, field], message: r.why });
  if (!locationsRead.ok) fail(i, "location", locationsRead);
  else if (!locationsRead.value.some((l) => l.id === s.location))
    out.push({
      path: ["servers", i, "location"],
      message: `expected a location of the Hostwinds account (${listed(locationsRead.value.map((l) => `${l.id} ${l.name}`))})`,
    });
  const plan = plansRead.ok ? plansRead.value.find((p) => p.rid === s.plan) : undefined;
  if (!plansRead.ok) fail(i, "plan", plansRead);
  else if (!plan)
    out.push({
      path: ["servers", i, "plan"],
      message: `expected a plan rid in Hostwinds' price list (${listed(plansRead.value.map((p) => `${p.rid} ${p.name}`))})`,
    });
  else if (monthlyPriceUsd(plan, s.billingCycle as BillingCycle) === undefined)
    out.push({ path: ["servers", i, "billingCycle"], message: `expected a billing cycle Hostwinds prices plan ${plan.id} for` });
  // An image not named is the default for a new server only (the provider checks it when it buys one).
  if (s.image !== undefined && !UUID.test(s.image)) {
    if (!imagesRead.ok) fail(i, "image", { ok: false, why: `${imagesRead.why}; give the image as a template UUID instead of a name` });
    else if (!findImage(imagesRead.value, s.image))
      out.push({
        path: ["servers", i, "image"],
        message: `expected a public image of the account by name or UUID (${listed(imagesRead.value.map((x) => imageSlug(x.name)))}), or a template UUID`,
      });
  }
  // Without a key list (a refused get_ssh_keys) Hostwinds itself refuses an unknown key at add_instance, before billing.
  if (keysRead.ok && !keysRead.cached)
    s.sshKeys.forEach((k, j) => {
      if (!keysRead.value.includes(k))
        out.push({
          path: ["servers", i, "sshKeys", j],
          message: `expected the name of an SSH key in the Hostwinds account (${listed(keysRead.value)})`,
        });
    });
  else if (!keysRead.ok && /unexpected shape/.test(keysRead.why) && s.sshKeys.length) fail(i, "sshKeys", keysRead);
  return out;
}

/** What the server checks read: the tenant and its stack, the account's servers and price list. */
interface TheAccount {
  t: Tenant;
  stack: string;
  client: HostwindsClient;
  owner: { project: string; backend: string };
  instances: Instance[];
  plansRead: Read<Plan[]>;
}

/** Server i's adopted id and its paused, retired and adopted IPs against the servers in the account. */
async function serverProblems(s: Server, i: number, { t, stack, client, owner, instances, plansRead }: TheAccount): Promise<Problem[]> {
  const out: Problem[] = [];
  let server: Instance | undefined;
  if (s.adoptServiceId) {
    server = instances.find((x) => x.serviceid === s.adoptServiceId);
    if (!server) {
      out.push({
        path: ["servers", i, "adoptServiceId"],
        message: "expected the id of a server in this Hostwinds account (see the panel or `fleet orphans`)",
      });
      return out;
    }
    if (server.location_id !== undefined && server.location_id !== s.location)
      out.push({
        path: ["servers", i, "location"],
        message: `expected ${server.location_id}, the location of server ${server.serviceid} to adopt`,
      });
    // [assumed] product_id is the price list's id, as providers/hostwinds/instance.ts reads it.
    const rid = (plansRead.ok ? plansRead.value : []).find((p) => p.id === server!.product_id)?.rid;
    if (rid !== undefined && rid !== s.plan)
      out.push({ path: ["servers", i, "plan"], message: `expected ${rid}, the plan rid of server ${server.serviceid} to adopt` });
  } else {
    const mark = serverName({ ...owner, tenant: t.id, stack, server: s.name });
    const same = instances.filter((x) => parseServerName(x.srvrname)?.mark === mark);
    server = same.length === 1 ? same[0] : undefined;
  }
  const lists = (["pausedIps", "retireIps", "adoptIps"] as const).filter((k) => s[k]?.length);
  if (!lists.length) return out;
  const secondary = server ? (await client.listIps(server.serviceid)).map((x) => x.ip).filter((ip) => ip !== server.main_ip) : [];
  const which = `server ${s.name}'s secondary IPs (${server ? listed(secondary) : "none: it is not bought yet"})`;
  for (const k of lists)
    s[k]!.forEach((ip, j) => {
      if (!secondary.includes(ip)) out.push({ path: ["servers", i, k, j], message: `expected one of ${which}` });
    });
  return out;
}
