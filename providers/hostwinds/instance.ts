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
import { OutcomeUnknownError, UnexpectedShapeError, isRefusal } from "./client";
import { HostwindsError } from "./errors";
import {
  InstanceInputs,
  describeOtherMark,
  describeOwner,
  instanceInputsSchema,
  ownerOf,
  parseServerName,
  serverName,
  stackTag,
  tenantTag,
} from "./inputs";
import { findImage } from "./catalog";
import { joinName, splitName } from "./orders";
import { BillingCycle, monthlyPriceUsd } from "../model/pricing";
import { Session, configureSession, progress, session } from "./session";
import { type Instance as ApiInstance, type Image, type Plan, UUID, imageSlug } from "./wire";

export interface InstanceOutputs extends InstanceInputs {
  serviceId: number;
  serverName: string;
  hostname: string;
  mainIp: string;
  status: string;
  /** The UUID of the image it was bought with (`template` keeps the readable name; add_instance takes the UUID). */
  image: string;
  monthlyPriceUsd: number;
  /** The product id Hostwinds reports; a refresh reads the price list only when it changes. */
  productId?: number;
  rootPassword: string;
  configKey: string;
}

/**
 * Inputs that Hostwinds cannot change on a running server: changing one means a new server, which
 * is refused unless the server allows it (`allowReplace`). A plan change is an upgrade in place
 * (upgrade_instance) and SSH keys are the server's business (installed at build only), so neither
 * is here; nor is the template: it is the image the server was bought with, and the image it runs
 * is `hostwinds.OsImage`'s, whose change is a reinstall on the same server (os-image.ts).
 */
const REPLACE_ON_CHANGE = ["tenant", "location", "billingCycle"] as const;

/** What replacing a server loses, for the refusal in preview. */
const LOST_BY_REPLACING =
  "its mail data (mailboxes, queues), its main IP, and every secondary IP on it with the days of warm-up each has (a new server starts warm-up at day 1)";

/** How long to look for a server whose purchase answer was lost. */
const SETTLE_LOST_PURCHASE_MS = 120_000;

const known = (i: Partial<InstanceInputs>): i is InstanceInputs =>
  !!i.tenant && !!i.name && !!i.stack && !isUnknown(i.tenant) && !isUnknown(i.name) && !isUnknown(i.stack);
const label = (i: Partial<InstanceInputs>) =>
  known(i) ? `hostwinds.Instance ${i.tenant}/${i.name} (stack ${i.stack})` : "hostwinds.Instance";
const markOf = (i: InstanceInputs) => serverName(ownerOf(i));

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
const imageUuid = (s: Session, inputs: InstanceInputs) => resolveImage(s, label(inputs), inputs.template, "Nothing was bought.");

/**
 * The UUID of image `template` (a public image's name, or a UUID sent as it is: no image listing,
 * ASSUMPTIONS: get_public_images, is needed for it). `what` names the resource in errors, which end
 * with `nothing` (what was not done).
 */
export async function resolveImage(s: Session, what: string, template: string, nothing: string): Promise<string> {
  if (UUID.test(template.trim())) return template.trim();
  let images: Image[];
  try {
    images = await s.images();
  } catch (e) {
    if (!(e instanceof UnexpectedShapeError) && !isRefusal(e)) throw e;
    throw new Error(
      `${what}: image "${template}" cannot be looked up: ${e.message} (ASSUMPTIONS: "get_public_images answers a list of {uuid, name}"). ` +
        `Give the server's image as a template UUID (the panel shows it; \`fleet catalog\` lists them). ${nothing}`,
    );
  }
  const found = findImage(images, template);
  if (found) return found.uuid;
  throw new Error(
    `${what}: image "${template}" is not among Hostwinds' public images (${images.map((i) => `${imageSlug(i.name)} = ${i.uuid}`).join(", ") || "none"}). ` +
      `Set the server's image to one of these names, or to a template UUID (a snapshot's, say). ${nothing}`,
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
 * Refuses a server whose mark names another owner: the mark is recomputed from this resource's
 * owner (inputs or state), never compared with a name state remembers, so a foreign service id in
 * state (a mistyped adoptServiceId, a hand-edited import) is refused however state came to hold
 * it. Returns "unmarked" for a server whose name is no mark (made by hand, or renamed in the panel).
 */
function checkOwner(found: ApiInstance, inputs: InstanceInputs, doing: string): "mine" | "unmarked" {
  const mark = parseServerName(found.srvrname);
  if (!mark) return "unmarked";
  const owner = ownerOf(inputs);
  if (mark.mark === serverName(owner)) return "mine";
  throw new Error(
    `${label(inputs)}: refusing to ${doing} server ${found.serviceid} ("${found.srvrname}"): it is ${describeOtherMark(mark, owner)}, ` +
      `and this resource is ${describeOwner(owner)}. ` +
      "A server belongs to exactly one tenant, server name, stack, project and backend; if the id is a typo, correct it. Nothing was bought or changed.",
  );
}

/**
 * Two stacks claiming the same tenant id (or the same stack name on another backend or project):
 * the one that does not own the tenant's servers stops before buying anything.
 */
function checkTenantClaim(all: ApiInstance[], inputs: InstanceInputs): void {
  const owner = ownerOf(inputs);
  const other = all
    .map((i) => ({ i, m: parseServerName(i.srvrname) }))
    .find(({ m }) => m && m.tenantTag === tenantTag(owner.tenant) && m.stackTag !== stackTag(owner));
  if (other) {
    throw new Error(
      `${label(inputs)}: tenant ${inputs.tenant} is already managed by another stack, project or backend (server ${other.i.serviceid}, "${other.i.srvrname}"); ` +
        `this stack (${inputs.stack}${owner.project ? `, project ${owner.project}` : ""}${owner.backend ? `, backend ${owner.backend}` : ""}) claims the same tenant id. ` +
        "Give this tenant its own id, or run it from the stack and backend that own it. Nothing was bought.",
    );
  }
}

/** How long an unmarked server that fits an order is suspected of being an unrecognised purchase. */
const SUSPECT_UNMARKED_MS = 24 * 3600_000;
/** Created within SUSPECT_UNMARKED_MS (`created_at`, PM's field list [D]); a server of unknown age is not suspected. */
function isRecent(i: ApiInstance): boolean {
  const created = Date.parse(String(i.created_at ?? "").replace(" ", "T"));
  return Number.isFinite(created) && Date.now() - created < SUSPECT_UNMARKED_MS;
}

/** What a server bought for these inputs looks like whatever its name came back as. */
function fitsOrder(i: ApiInstance, inputs: InstanceInputs, template: string, plans: Plan[]): boolean {
  const rid = ridOfProduct(plans, i.product_id);
  return (
    (i.location_id === undefined || i.location_id === inputs.location) &&
    (rid === undefined || rid === inputs.plan) &&
    (!i.template_uuid || i.template_uuid === template) &&
    (!i.billingcycle || i.billingcycle === inputs.billingCycle)
  );
}

/**
 * The server a purchase bought: among the servers whose service id was not in the account before
 * it, the one carrying this mark, or else the only unmarked one that fits the order (a panel that
 * rewrote or ignored the name; ASSUMPTIONS: server names). Several candidates stop the run: which is
 * ours cannot be told, and buying again is never the answer.
 */
function boughtServer(
  now: ApiInstance[],
  before: Set<number>,
  inputs: InstanceInputs,
  template: string,
  plans: Plan[],
): ApiInstance | undefined {
  const name = markOf(inputs);
  const fresh = now.filter((i) => !before.has(i.serviceid));
  const marked = fresh.filter((i) => splitName(i.srvrname).mark === name);
  if (marked.length === 1) return marked[0];
  const candidates = fresh.filter((i) => !parseServerName(i.srvrname) && fitsOrder(i, inputs, template, plans));
  if (candidates.length > 1)
    throw new Error(
      `${label(inputs)}: ${candidates.length} new servers that fit this purchase appeared in the account under other names (ids ${candidates.map((i) => i.serviceid).join(", ")}: ` +
        `${candidates.map((i) => `"${i.srvrname}"`).join(", ")}); Hostwinds did not keep the name sent (${name}), so which one is this purchase cannot be told. ` +
        "Set adoptServiceId to this server's id and run `pulumi up` again; nothing more was bought.",
    );
  return candidates[0];
}

/** Finds the server this resource should manage, buying one only when there is none. The caller has priced the plan. */
async function findOrBuy(s: Session, inputs: InstanceInputs, template: string): Promise<ApiInstance> {
  const plans = await s.priceList();
  const all = await s.client.listInstances();
  checkTenantClaim(all, inputs);
  if (inputs.adoptServiceId !== undefined) return adopt(s, inputs, inputs.adoptServiceId, plans);
  return takeOverMarked(all, inputs, plans) ?? (await buy(s, inputs, template, plans, all));
}

/** adoptServiceId: the server named, if it fits the inputs and no other stack owns it; an unmarked one gets this mark. */
async function adopt(s: Session, inputs: InstanceInputs, serviceId: number, plans: Plan[]): Promise<ApiInstance> {
  const name = markOf(inputs);
  // Re-read the one server (fresh): its mark decides, not a list that may be a moment old.
  const found = await s.instance(serviceId, true);
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

/** A server already carrying this mark (a run stopped before saving it): taken over if it fits, never bought twice. */
function takeOverMarked(all: ApiInstance[], inputs: InstanceInputs, plans: Plan[]): ApiInstance | undefined {
  const name = markOf(inputs);
  const same = all.filter((i) => splitName(i.srvrname).mark === name);
  if (same.length > 1) {
    throw new Error(
      `${label(inputs)}: ${same.length} servers in the account carry this server's mark ${name} (ids ${same.map((i) => i.serviceid).join(", ")}); set adoptServiceId to the one to manage and terminate or rename the others. Nothing was bought.`,
    );
  }
  if (same.length === 1) {
    const found = same[0];
    const wrong = mismatches(found, inputs, plans);
    if (wrong.length) {
      throw new Error(
        `${label(inputs)}: server ${found.serviceid} marked ${name} is already in the account but is not in this stack's state, and it differs: ${wrong.join("; ")}. ` +
          `To manage it, make the inputs match and set adoptServiceId: ${found.serviceid}; otherwise terminate it in the Hostwinds panel. Nothing was bought.`,
      );
    }
    progress(
      `${label(inputs)}: server ${found.serviceid} is already in the account but not in state (an earlier run stopped before saving it); taking it over instead of buying again`,
    );
    return found;
  }
  return undefined;
}

/** Buys the server under this stack's lease, then finds it by the ids before and after and makes sure it carries the mark. */
async function buy(s: Session, inputs: InstanceInputs, template: string, plans: Plan[], all: ApiInstance[]): Promise<ApiInstance> {
  const name = markOf(inputs);
  // One writer per stack (providers/lib/lease.ts): a second engine on this stack never buys.
  await s.purchaseLease(inputs.stack, `buy server ${name}`);

  // A recent server without a mark that fits this order may be this stack's purchase from a run that
  // stopped before marking it (a panel that ignored the name): refuse, never buy a second one.
  const suspects = all.filter((i) => !parseServerName(i.srvrname) && fitsOrder(i, inputs, template, plans) && isRecent(i));
  if (suspects.length)
    throw new Error(
      `${label(inputs)}: ${suspects.map((i) => `server ${i.serviceid} ("${i.srvrname}", created ${String(i.created_at)})`).join(", ")} ` +
        `carries no owner mark and fits this server's order; it may be this stack's purchase from a run that stopped before marking it ` +
        `(Hostwinds did not keep the name sent; ASSUMPTIONS: server names). Set adoptServiceId to its id to take it over, or rename or terminate it in the panel. Nothing was bought.`,
    );

  // The purchase is known by the service ids before and after it, not by its name coming back intact.
  const before = new Set(all.map((i) => i.serviceid));
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
    progress(`${label(inputs)}: the answer to the purchase was lost; looking for a new server in the account instead of buying again`);
  }
  let found: ApiInstance;
  try {
    found = await s.client.waitFor(
      `server ${name} to appear in the account`,
      async () => boughtServer(await s.client.listInstances(), before, inputs, template, plans),
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
        `${label(inputs)}: the purchase's answer was lost (${lost.detail}) and no new server appeared within ${SETTLE_LOST_PURCHASE_MS / 1000} s. ` +
          "It was not bought again. Run `pulumi up` again later: if the purchase went through, the server is found by its mark and taken over.",
      );
    }
    throw e;
  }
  if (splitName(found.srvrname).mark !== name) {
    // Hostwinds changed or ignored the name: the mark is written now, by id, so a later run recognises it.
    progress(`${label(inputs)}: Hostwinds named the new server ${found.serviceid} "${found.srvrname}", not ${name}; marking it by its id`);
    await s.client.renameInstance(found.serviceid, name);
    s.changed(found.serviceid);
    const again = await s.instance(found.serviceid, true);
    if (again && splitName(again.srvrname).mark !== name)
      progress(
        `${label(inputs)}: server ${found.serviceid} keeps the name "${again.srvrname}" after a rename to ${name}: this stack knows it by its id in state, but a run stopped before saving it could not recognise it (ASSUMPTIONS: server names)`,
      );
    found = again ?? { ...found, srvrname: name };
  }
  return found;
}

/**
 * A plan change on the same server: `upgrade_instance` with the new plan's rid (TF variables,
 * PM upgrade-billing.md [D]), then `confirm_upgrade` once Hostwinds reports the resize done
 * (status RESIZED [D]); the server keeps its IPs and disks. Billed, so never sent twice: the plan
 * the account reports is read first (ASSUMPTIONS: product_id), and a lost answer is settled by
 * reading. Without a plan the account reports, it stops before any purchase.
 */
async function upgrade(s: Session, inputs: InstanceInputs, api: ApiInstance): Promise<ApiInstance> {
  const plans = await s.priceList();
  const target = plans.find((p) => p.rid === inputs.plan);
  if (!target) throw new Error(`${label(inputs)}: plan ${inputs.plan} is not a rid in Hostwinds' price list. Nothing was bought.`);
  const planNow = (i: ApiInstance) => ridOfProduct(plans, i.product_id);
  if (planNow(api) === undefined)
    throw new Error(
      `${label(inputs)}: cannot tell which plan server ${api.serviceid} is on (its product_id ${api.product_id ?? "is missing"} is no plan's id in the price list; ` +
        "ASSUMPTIONS: product_id), so an upgrade could be paid twice. Upgrade it in the Hostwinds panel, then set the plan to match. Nothing was bought.",
    );
  const done = async (): Promise<ApiInstance | undefined> => {
    const i = await s.instance(api.serviceid, true);
    if (!i) throw new Error(`server ${api.serviceid} disappeared from the account during its upgrade`);
    if (/^(RESIZED|VERIFY_RESIZE)$/i.test(i.status)) {
      await s.client.confirmUpgrade(api.serviceid);
      s.changed(api.serviceid);
      return undefined;
    }
    if (/error|fail/i.test(i.status))
      throw new Error(`the upgrade of server ${api.serviceid} failed: Hostwinds reports status ${i.status}`);
    return i.status === "ACTIVE" && planNow(i) === inputs.plan ? i : undefined;
  };
  if (planNow(api) !== inputs.plan && !/^RESIZ|VERIFY_RESIZE/i.test(api.status)) {
    try {
      await s.client.upgradeInstance(api.serviceid, inputs.plan);
      progress(
        `${label(inputs)}: upgrading server ${api.serviceid} in place to plan ${target.rid} (${target.name}); its IPs and mail stay`,
      );
    } catch (e) {
      if (!(e instanceof OutcomeUnknownError)) throw e;
      progress(`${label(inputs)}: the answer to the upgrade was lost; watching the server instead of sending it again`);
    }
    s.changed(api.serviceid);
  }
  return s.client.waitFor(`server ${api.serviceid} to run on plan ${inputs.plan}`, done, {
    timeoutMs: s.settings.buildTimeoutMs,
    initialDelayMs: s.settings.pollIntervalMs,
    maxDelayMs: s.settings.pollIntervalMs,
    onProgress: progress,
  });
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
    if (replaces.length && !news.allowReplace) {
      throw new Error(
        `${label(news)}: changing ${replaces.join(", ")} would replace server ${id}: a new server is bought and this one terminated, losing ${LOST_BY_REPLACING}. ` +
          "Refused. Put the old value back, or set `allowReplace: true` on this server in the tenant's config to accept the loss. Nothing was bought or changed.",
      );
    }
    if (news.template !== undefined && !isUnknown(news.template) && news.template !== olds.template)
      progress(
        `${label(news)}: template ${olds.template} → ${news.template} is not applied to server ${id}: an Instance's template is the image it was bought with; ` +
          "the image a server runs is changed by a hostwinds.OsImage bound to it (a reinstall on the same server), which tenant stacks have",
      );
    const wanted = known(news) ? markOf(news) : undefined;
    const rename = wanted !== olds.serverName || olds.name !== news.name;
    // A plan change is an upgrade of the same server; SSH keys are recorded (Hostwinds installs them at build only).
    const inPlace = (["plan", "sshKeys"] as const).some((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null));
    // A server that has not come up (created-but-failed) is updated, which waits for it again.
    const notUp = olds.status !== "ACTIVE";
    // The main IP's PTR is set in place (a refresh that read another value makes them differ too).
    const rdns = news.rdns !== undefined && !isUnknown(news.rdns) && news.rdns !== olds.rdns;
    // Replacing (only when allowed) deletes first: one server per mark.
    return {
      changes: replaces.length > 0 || rename || inPlace || notUp || rdns,
      replaces,
      deleteBeforeReplace: replaces.length > 0,
    };
  },

  async create(inputs) {
    const s = session();
    const name = markOf(inputs);
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
    // The owner is recomputed from state's inputs: a server marked for anyone else is never read into this stack.
    if (checkOwner(api, props, "refresh") === "unmarked")
      progress(`${label(props)}: server ${id} carries no owner mark (named "${api.srvrname}"); the next up marks it again`);
    const current: InstanceInputs = {
      ...props,
      location: api.location_id ?? props.location,
      // The price list is read only when the product changed (a refresh stays at one call per server).
      plan:
        api.product_id === undefined || api.product_id === props.productId
          ? props.plan
          : (ridOfProduct(await s.priceList(), api.product_id) ?? props.plan),
      billingCycle: (api.billingcycle ?? props.billingCycle) as InstanceInputs["billingCycle"],
      // Hostwinds installs account keys at build only, so the list it reports is the build's; what this
      // stack set since (in place) stands.
      sshKeys: props.sshKeys ?? api.ssh_keys,
    };
    // Look the price up again only when what it depends on changed (a refresh stays at one call per server).
    const price =
      current.plan === props.plan && current.billingCycle === props.billingCycle
        ? props.monthlyPriceUsd
        : await priceOf(s, current).catch(() => props.monthlyPriceUsd);
    // The main IP's PTR only when Hostwinds reports it (no source says it does, ASSUMPTIONS: rdns):
    // otherwise what this stack set stands. Shared with the secondary IPs' read of the same list.
    if (props.rdns && api.main_ip) current.rdns = (await s.ips(api.serviceid)).find((i) => i.ip === api.main_ip)?.rdns ?? props.rdns;
    // `image` stays the one it was bought with (as `template`): a reinstall since is its OsImage's to report.
    const outs = { ...outputs(api, current, price, props.image), ...(props.image ? { image: props.image } : {}) };
    const inputs: InstanceInputs = compact({
      tenant: props.tenant,
      name: props.name,
      stack: props.stack,
      project: props.project,
      backend: props.backend,
      location: current.location,
      plan: current.plan,
      template: props.template,
      billingCycle: current.billingCycle,
      sshKeys: current.sshKeys,
      adoptServiceId: props.adoptServiceId,
      rdns: current.rdns,
      allowReplace: props.allowReplace,
    });
    return { id, props: outs, inputs: inputs as never };
  },

  async update(id, olds, news) {
    const s = session();
    const sid = Number(id);
    const name = markOf(news);
    let api = await s.instance(sid, true);
    if (!api) {
      await s.confirmAccess(`${label(news)}: update of server ${sid}`);
      throw new Error(
        `${label(news)}: server ${sid} is no longer in the account; run \`pulumi refresh\` to drop it from state, then \`pulumi up\` to buy a new one.`,
      );
    }
    // The live mark must be this resource's, as state's owner or as the new inputs' (a rename or a
    // move of backend); a server marked for anyone else is not taken by a rename.
    const { mark, orders } = splitName(api.srvrname);
    if (mark !== markOf(olds) && mark !== name && checkOwner(api, news, "rename") === "unmarked")
      progress(`${label(news)}: server ${sid} carries no owner mark (named "${api.srvrname}"); marking it again`);
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
    if (news.plan !== olds.plan) api = await upgrade(s, news, api);
    if (JSON.stringify(news.sshKeys ?? []) !== JSON.stringify(olds.sshKeys ?? []))
      progress(
        `${label(news)}: SSH keys recorded as ${JSON.stringify(news.sshKeys)} without rebuilding server ${sid}: Hostwinds installs account keys only when a server is built, so put the key on the server itself (its authorized_keys)`,
      );
    if (news.rdns && news.rdns !== olds.rdns) await setMainRdns(s, news, api);
    return { outs: outputs(api, news, price, olds.image) };
  },

  async delete(id, props) {
    const s = session();
    const sid = Number(id);
    const mine = markOf(props);
    namesInUse.delete(mine);
    try {
      // Re-read before releasing: a server marked for anyone else is not released, whatever state says.
      const api = await s.instance(sid, true);
      if (!api) {
        await s.confirmAccess(`${label(props)}: destroy of server ${sid}`);
        progress(`${label(props)}: server ${sid} was already gone`);
        return;
      }
      // An unmarked server is released only if this stack marked it and state last saw it so (renamed by hand since).
      if (checkOwner(api, props, "terminate") === "unmarked" && props.serverName !== mine)
        throw new Error(
          `${label(props)}: refusing to terminate server ${sid} ("${api.srvrname}"): it carries no owner mark, and state does not show this stack marking it. ` +
            "If it is this stack's, run `pulumi up` (which marks it) and destroy again; otherwise remove it from state (`pulumi state delete`) and terminate it in the panel if you mean to. Nothing was released.",
        );
      const released = await s.client.terminate(sid);
      s.changed(sid);
      if (!released) progress(`${label(props)}: server ${sid} was already gone`);
    } catch (e) {
      if (e instanceof HostwindsError) throw new Error(`${label(props)}: could not release server ${sid}: ${e.message}`);
      throw e;
    }
  },
});
