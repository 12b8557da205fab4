/**
 * The implementation behind `hostwinds.Instance` (loaded lazily by the
 * provider process; see providers/lib/lazy-provider.ts).
 *
 * Create is find-or-buy: a server's name is derived from tenant and logical
 * name, because Hostwinds answers a purchase with no id. A server of that name
 * already in the account (an earlier run stopped between buying and saving
 * state) is taken over, never bought twice. A server that was bought but did
 * not come up is reported as created-but-failed so state keeps its id.
 */
import { withTruthfulPurchases } from "../lib/purchases";
import type * as pulumi from "@pulumi/pulumi";
import { checkInputs, compact, createdButFailed, isUnknown } from "../lib/dynamic";
import { OutcomeUnknownError } from "./client";
import { HostwindsError } from "./errors";
import { InstanceInputs, describeMark, instanceInputsSchema, markIs, parseServerName, serverName } from "./inputs";
import { findImage } from "./catalog";
import { joinName, splitName } from "./orders";
import { BillingCycle, monthlyPriceUsd } from "../model/pricing";
import { Session, configureSession, progress, session } from "./session";
import { type Instance as ApiInstance, type Plan, imageSlug } from "./wire";

export interface InstanceOutputs extends InstanceInputs {
  serviceId: number;
  serverName: string;
  hostname: string;
  mainIp: string;
  status: string;
  /** The image's UUID (`template` keeps the readable name; add_instance takes the UUID). */
  image: string;
  monthlyPriceUsd: number;
  /** The product id Hostwinds reports; a refresh reads the price list only when it changes. */
  productId?: number;
  rootPassword: string;
  configKey: string;
}

/** Inputs that Hostwinds cannot change on a running server: changing one means a new server. */
const REPLACE_ON_CHANGE = ["tenant", "location", "plan", "template", "billingCycle", "sshKeys"] as const;

/** How long to look for a server whose purchase answer was lost. */
const SETTLE_LOST_PURCHASE_MS = 120_000;

const label = (i: Partial<InstanceInputs>) =>
  i.tenant && i.name && i.stack && !isUnknown(i.tenant) && !isUnknown(i.name) && !isUnknown(i.stack)
    ? `hostwinds.Instance ${serverName(i.tenant, i.name, i.stack)}`
    : "hostwinds.Instance";

/** Servers named in this process: two resources with the same tenant and name would share one server. */
const namesInUse = new Set<string>();

function outputs(api: ApiInstance, inputs: InstanceInputs, price: number, imageUuid?: string): InstanceOutputs {
  return compact({
    ...inputs,
    serviceId: api.serviceid,
    serverName: splitName(api.srvrname).mark,
    hostname: api.hostname ?? "",
    mainIp: api.main_ip ?? "",
    status: api.status,
    image: api.template_uuid ?? imageUuid ?? inputs.template,
    monthlyPriceUsd: price,
    productId: api.product_id,
    rootPassword: api.password ?? "",
    configKey: api.configkey ?? "",
  });
}

/** The image UUID add_instance takes; a precise error listing the images when the name is unknown. */
async function imageUuid(s: Session, inputs: InstanceInputs): Promise<string> {
  const images = await s.images();
  const found = findImage(images, inputs.template);
  if (found) return found.uuid;
  throw new Error(
    `${label(inputs)}: image "${inputs.template}" is not among Hostwinds' public images (${images.map((i) => `${imageSlug(i.name)} = ${i.uuid}`).join(", ") || "none"}). ` +
      "Set the server's image to one of these names, or to a template UUID (a snapshot's, say). Nothing was bought.",
  );
}

/**
 * The plan of a server as the account reports it, by rid. [assumed] `product_id` is the price
 * list's `id`; a product_id that is no plan's id says nothing (undefined), so no false difference.
 */
function ridOfProduct(plans: Plan[], productId: number | undefined): number | undefined {
  return productId === undefined ? undefined : plans.find((p) => p.id === productId)?.rid;
}

/** The plan's monthly price; a clear error before anything is bought when plan or cycle is not sold. */
async function priceOf(s: Session, inputs: InstanceInputs): Promise<number> {
  const plans = await s.priceList();
  const plan = plans.find((p) => p.rid === inputs.plan);
  if (!plan) {
    throw new Error(
      `${label(inputs)}: plan ${inputs.plan} is not a rid in Hostwinds' price list of unmanaged plans (rids: ${plans.map((p) => `${p.rid} ${p.name}`).join(", ")}). Nothing was bought.`,
    );
  }
  const price = monthlyPriceUsd(plan, inputs.billingCycle as BillingCycle);
  if (price === undefined) {
    throw new Error(
      `${label(inputs)}: plan ${plan.rid} (${plan.name}) has no ${inputs.billingCycle} price; choose another billingCycle. Nothing was bought.`,
    );
  }
  return price;
}

/** Differences between a server in the account and the inputs, as "field: account has X, inputs say Y". */
function mismatches(api: ApiInstance, inputs: InstanceInputs, plans: Plan[]): string[] {
  const out: string[] = [];
  if (api.location_id !== undefined && api.location_id !== inputs.location)
    out.push(`location: the server is in ${api.location_id}, inputs say ${inputs.location}`);
  const rid = ridOfProduct(plans, api.product_id);
  if (rid !== undefined && rid !== inputs.plan) out.push(`plan: the server is on plan rid ${rid}, inputs say ${inputs.plan}`);
  if (api.billingcycle && api.billingcycle !== inputs.billingCycle)
    out.push(`billingCycle: the server is billed ${api.billingcycle}, inputs say ${inputs.billingCycle}`);
  return out;
}

/**
 * The main IP's reverse DNS set to the server's host name (`set_rdns`, as for secondary IPs;
 * hostwinds-api.md §4 [D]). Nothing to do without an `rdns` input.
 */
async function setMainRdns(s: Session, inputs: InstanceInputs, api: ApiInstance): Promise<void> {
  if (!inputs.rdns || !api.main_ip) return;
  await s.client.setRdns(api.serviceid, api.main_ip, inputs.rdns);
  s.ipsChanged(api.serviceid);
  progress(`${label(inputs)}: reverse DNS of main IP ${api.main_ip} set to ${inputs.rdns}`);
}

async function waitActive(s: Session, id: number, name: string): Promise<ApiInstance> {
  return s.client.waitFor(
    `server ${name} (${id}) to become ACTIVE`,
    async () => {
      const i = await s.instance(id, true);
      if (!i) throw new Error(`server ${name} (${id}) disappeared from the account while it was being built`);
      if (/error|fail/i.test(i.status)) throw new Error(`server ${name} (${id}) failed to build: Hostwinds reports status ${i.status}`);
      return i.status === "ACTIVE" && i.main_ip ? i : undefined;
    },
    {
      timeoutMs: s.settings.buildTimeoutMs,
      initialDelayMs: s.settings.pollIntervalMs,
      maxDelayMs: s.settings.pollIntervalMs,
      onProgress: progress,
    },
  );
}

/**
 * Refuses a server whose mark names another owner. Returns "unmarked" for a server with no mark
 * (a hand-made one): only an explicit adoptServiceId may take it, and that is logged.
 */
function checkOwner(found: ApiInstance, inputs: InstanceInputs, doing: string): "mine" | "unmarked" {
  const mark = parseServerName(found.srvrname);
  if (!mark) return "unmarked";
  if (markIs(mark, { tenant: inputs.tenant, stack: inputs.stack, server: inputs.name })) return "mine";
  throw new Error(
    `${label(inputs)}: refusing to ${doing} server ${found.serviceid} ("${found.srvrname}"): it is marked as ${describeMark(mark)}, ` +
      `and this resource is tenant ${inputs.tenant}, server ${inputs.name}, stack ${inputs.stack}. ` +
      "A server belongs to exactly one tenant, server name and stack. Nothing was bought or changed.",
  );
}

/**
 * Two stacks claiming the same tenant id: the one that does not own the tenant's servers stops
 * before buying anything.
 */
function checkTenantClaim(all: ApiInstance[], inputs: InstanceInputs): void {
  const other = all
    .map((i) => ({ i, m: parseServerName(i.srvrname) }))
    .find(({ m }) => m && m.tenant === inputs.tenant && m.stack !== inputs.stack);
  if (other) {
    throw new Error(
      `${label(inputs)}: tenant ${inputs.tenant} is already managed by stack ${other.m!.stack} (server ${other.i.serviceid}, "${other.i.srvrname}"); ` +
        `this stack (${inputs.stack}) claims the same tenant id. Give this tenant its own id, or run it from stack ${other.m!.stack}. Nothing was bought.`,
    );
  }
}

/** Finds the server this resource should manage, buying one only when there is none. The caller has priced the plan. */
async function findOrBuy(s: Session, inputs: InstanceInputs, template: string): Promise<ApiInstance> {
  const name = serverName(inputs.tenant, inputs.name, inputs.stack);
  const plans = await s.priceList();
  const all = await s.client.listInstances();
  checkTenantClaim(all, inputs);
  if (inputs.adoptServiceId !== undefined) {
    // Re-read the one server (fresh): its mark decides, not a list that may be a moment old.
    const found = await s.instance(inputs.adoptServiceId, true);
    if (!found) {
      throw new Error(
        `${label(inputs)}: adoptServiceId ${inputs.adoptServiceId} is not a server in this Hostwinds account; check the id in the panel. Nothing was bought.`,
      );
    }
    const owner = checkOwner(found, inputs, "adopt");
    const wrong = mismatches(found, inputs, plans);
    if (wrong.length)
      throw new Error(
        `${label(inputs)}: cannot adopt server ${found.serviceid} as described: ${wrong.join("; ")}. Make the inputs match the server. Nothing was bought.`,
      );
    if (owner === "unmarked") {
      await s.client.renameInstance(found.serviceid, name);
      s.changed(found.serviceid);
      progress(
        `${label(inputs)}: adopted unmarked server ${found.serviceid} ("${found.srvrname}") as asked by adoptServiceId, and marked it ${name}`,
      );
      return { ...found, srvrname: name };
    }
    progress(`${label(inputs)}: adopted server ${found.serviceid}`);
    return found;
  }

  const same = all.filter((i) => splitName(i.srvrname).mark === name);
  if (same.length > 1) {
    throw new Error(
      `${label(inputs)}: ${same.length} servers in the account are named ${name} (ids ${same.map((i) => i.serviceid).join(", ")}); set adoptServiceId to the one to manage and terminate or rename the others. Nothing was bought.`,
    );
  }
  if (same.length === 1) {
    const found = same[0];
    const wrong = mismatches(found, inputs, plans);
    if (wrong.length) {
      throw new Error(
        `${label(inputs)}: server ${found.serviceid} named ${name} is already in the account but is not in this stack's state, and it differs: ${wrong.join("; ")}. ` +
          `To manage it, make the inputs match and set adoptServiceId: ${found.serviceid}; otherwise terminate it in the Hostwinds panel. Nothing was bought.`,
      );
    }
    progress(
      `${label(inputs)}: server ${found.serviceid} is already in the account but not in state (an earlier run stopped before saving it); taking it over instead of buying again`,
    );
    return found;
  }

  // One writer per stack (providers/lib/lease.ts): a second engine on this stack never buys.
  await s.purchaseLease(inputs.stack, `buy server ${name}`);
  let lost: OutcomeUnknownError | undefined;
  try {
    await s.client.buyInstance({
      template,
      planRid: inputs.plan,
      locationId: inputs.location,
      billingCycle: inputs.billingCycle,
      sshKeys: inputs.sshKeys,
      name,
    });
  } catch (e) {
    if (!(e instanceof OutcomeUnknownError)) throw e;
    lost = e;
    progress(`${label(inputs)}: the answer to the purchase was lost; looking for the server by its name instead of buying again`);
  }
  try {
    return await s.client.waitFor(
      `server ${name} to appear in the account`,
      async () => (await s.client.listInstances()).find((i) => splitName(i.srvrname).mark === name),
      {
        timeoutMs: lost ? SETTLE_LOST_PURCHASE_MS : s.settings.buildTimeoutMs,
        initialDelayMs: s.settings.pollIntervalMs,
        maxDelayMs: s.settings.pollIntervalMs,
        onProgress: progress,
      },
    );
  } catch (e) {
    if (lost) {
      throw new Error(
        `${label(inputs)}: the purchase's answer was lost (${lost.detail}) and no server named ${name} appeared within ${SETTLE_LOST_PURCHASE_MS / 1000} s. ` +
          "It was not bought again. Run `pulumi up` again later: if the purchase went through, the server is found by its name and taken over.",
      );
    }
    throw e;
  }
}

export const provider: pulumi.dynamic.ResourceProvider<InstanceInputs, InstanceOutputs> = withTruthfulPurchases({
  async configure(req) {
    configureSession((key) => req.config.get(key));
  },

  async check(_olds, news) {
    return checkInputs(instanceInputsSchema, label(news), news);
  },

  async diff(id, olds, news) {
    const replaces: string[] = [];
    for (const k of REPLACE_ON_CHANGE) {
      if (JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null)) replaces.push(k);
    }
    if (news.adoptServiceId !== undefined && String(news.adoptServiceId) !== id) replaces.push("adoptServiceId");
    const wanted =
      isUnknown(news.tenant) || isUnknown(news.name) || isUnknown(news.stack) ? undefined : serverName(news.tenant, news.name, news.stack);
    const rename = wanted !== olds.serverName || olds.name !== news.name;
    // A server that has not come up (created-but-failed) is updated, which waits for it again.
    const notUp = olds.status !== "ACTIVE";
    // The main IP's PTR is set in place (a refresh that read another value makes them differ too).
    const rdns = news.rdns !== undefined && !isUnknown(news.rdns) && news.rdns !== olds.rdns;
    // Replacing deletes first: the new server needs the derived name the old one holds.
    return { changes: replaces.length > 0 || rename || notUp || rdns, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const s = session();
    const name = serverName(inputs.tenant, inputs.name, inputs.stack);
    if (namesInUse.has(name))
      throw new Error(
        `${label(inputs)}: another Instance in this stack already has tenant ${inputs.tenant} and name ${inputs.name}; give each server its own name. Nothing was bought.`,
      );
    namesInUse.add(name);
    const price = await priceOf(s, inputs);
    const template = await imageUuid(s, inputs);
    const found = await findOrBuy(s, inputs, template);
    try {
      const active = found.status === "ACTIVE" && found.main_ip ? found : await waitActive(s, found.serviceid, name);
      await setMainRdns(s, inputs, active);
      return { id: String(active.serviceid), outs: outputs(active, inputs, price, template) };
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      // rdns "" in state: the next up sets it (diff sees it differ).
      throw createdButFailed(
        String(found.serviceid),
        outputs(found, { ...inputs, rdns: inputs.rdns === undefined ? undefined : "" }, price, template) as never,
        `${label(inputs)}: server ${found.serviceid} was bought but is not up: ${reason}. It stays in state; run \`pulumi up\` again to wait for it, or \`pulumi destroy\` to release it.`,
      );
    }
  },

  async read(id, stored) {
    const props = stored as InstanceOutputs;
    const s = session();
    const api = await s.instance(Number(id));
    if (!api) {
      await s.confirmAccess(`${label(props)}: refresh of server ${id}`);
      return { id: "" } as never;
    }
    const current: InstanceInputs = {
      ...props,
      location: api.location_id ?? props.location,
      // The price list is read only when the product changed (a refresh stays at one call per server).
      plan:
        api.product_id === undefined || api.product_id === props.productId
          ? props.plan
          : (ridOfProduct(await s.priceList(), api.product_id) ?? props.plan),
      billingCycle: (api.billingcycle ?? props.billingCycle) as InstanceInputs["billingCycle"],
      sshKeys: api.ssh_keys.length || !props.sshKeys?.length ? api.ssh_keys : props.sshKeys,
    };
    // Look the price up again only when what it depends on changed (a refresh stays at one call per server).
    const price =
      current.plan === props.plan && current.billingCycle === props.billingCycle
        ? props.monthlyPriceUsd
        : await priceOf(s, current).catch(() => props.monthlyPriceUsd);
    // The main IP's PTR only when Hostwinds reports it (no source says it does, ASSUMPTIONS: rdns):
    // otherwise what this stack set stands. Shared with the secondary IPs' read of the same list.
    if (props.rdns && api.main_ip) current.rdns = (await s.ips(api.serviceid)).find((i) => i.ip === api.main_ip)?.rdns ?? props.rdns;
    const outs = outputs(api, current, price, props.image);
    const inputs: InstanceInputs = compact({
      tenant: props.tenant,
      name: props.name,
      stack: props.stack,
      location: current.location,
      plan: current.plan,
      template: props.template,
      billingCycle: current.billingCycle,
      sshKeys: current.sshKeys,
      adoptServiceId: props.adoptServiceId,
      rdns: current.rdns,
    });
    return { id, props: outs, inputs: inputs as never };
  },

  async update(id, olds, news) {
    const s = session();
    const sid = Number(id);
    const name = serverName(news.tenant, news.name, news.stack);
    let api = await s.instance(sid, true);
    if (!api) {
      await s.confirmAccess(`${label(news)}: update of server ${sid}`);
      throw new Error(
        `${label(news)}: server ${sid} is no longer in the account; run \`pulumi refresh\` to drop it from state, then \`pulumi up\` to buy a new one.`,
      );
    }
    // A server renamed in the panel to another owner's mark is not taken back by a rename.
    const { mark, orders } = splitName(api.srvrname);
    if (mark !== olds.serverName) checkOwner(api, news, "rename");
    if (mark !== name) {
      await s.client.renameInstance(sid, joinName(name, orders));
      s.changed(sid);
      progress(`${label(news)}: renamed server ${sid} from ${api.srvrname}`);
      api = { ...api, srvrname: name };
    }
    const price = await priceOf(s, news);
    if (api.status !== "ACTIVE" || !api.main_ip) {
      try {
        api = await waitActive(s, sid, name);
      } catch (e) {
        throw createdButFailed(
          id,
          outputs(api, news, price) as never,
          `${label(news)}: server ${sid} is still not up: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
    if (news.rdns && news.rdns !== olds.rdns) await setMainRdns(s, news, api);
    return { outs: outputs(api, news, price, olds.image) };
  },

  async delete(id, props) {
    const s = session();
    const sid = Number(id);
    namesInUse.delete(serverName(props.tenant, props.name, props.stack));
    try {
      // Re-read before releasing: a server now marked for another tenant or stack is not released.
      const api = await s.instance(sid, true);
      if (!api) {
        await s.confirmAccess(`${label(props)}: destroy of server ${sid}`);
        progress(`${label(props)}: server ${sid} was already gone`);
        return;
      }
      if (splitName(api.srvrname).mark !== props.serverName) checkOwner(api, props, "terminate");
      const released = await s.client.terminate(sid);
      s.changed(sid);
      if (!released) progress(`${label(props)}: server ${sid} was already gone`);
    } catch (e) {
      if (e instanceof HostwindsError) throw new Error(`${label(props)}: could not release server ${sid}: ${e.message}`);
      throw e;
    }
  },
});
