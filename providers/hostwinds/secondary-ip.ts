/**
 * The implementation behind `hostwinds.SecondaryIp` (loaded lazily by the
 * provider process; see providers/lib/lazy-provider.ts).
 *
 * Which IP is whose, without trusting rDNS (no public source says get_instance_ips reports it):
 * - the server is the stack's alone (its name is the exact mark of tenant, server and stack,
 *   inputs.ts), so every secondary IP on it is the stack's;
 * - which slot holds which IP is the stack's state; in a run this process learns it from the
 *   engine's diff/read of every slot, and a new slot waits to hear from its siblings before it
 *   takes an unclaimed IP, so no two slots ever hold one address;
 * - an IP order is recorded in Hostwinds before it is sent (the order journal, orders.ts), so a
 *   run killed between the purchase and the IP's arrival leaves a record the next run honours:
 *   a new slot waits for that order instead of buying again;
 * - an order is settled only by what the account shows: an IP that answers it arrives, or
 *   Hostwinds refused the purchase outright. Never by a timeout: Hostwinds may hold an order for
 *   hours or days (ASSUMPTIONS), so a run that reaches an order's wait leaves the slot pending
 *   (status `purchasing`, `ip` empty) and succeeds, and every later run waits on the same order;
 * - each order's wait is its own: until `ipTimeoutMs` after that order was sent (an order from an
 *   earlier run gets one look), never sized by another order's wait;
 * - an order whose answer was lost (a 5xx or a dropped connection: it may or may not exist) ranks
 *   after every answered order, so a phantom never takes the IP another slot's order bought;
 * - a slot that has not heard every sibling (`pulumi up --target`) never takes an IP or an order
 *   it cannot tell from theirs: it buys only when nothing on the server is unaccounted for.
 * rDNS, when the API reports it, only helps: an IP already carrying this slot's rDNS is its own.
 */
import { withTruthfulPurchases } from "../lib/purchases";
import type * as pulumi from "@pulumi/pulumi";
import { checkInputs, compact, createdButFailed, isUnknown } from "../lib/dynamic";
import { OutcomeUnknownError } from "./client";
import { HostwindsError } from "./errors";
import { SecondaryIpInputs, parseServerName, secondaryIpInputsSchema, tenantTag } from "./inputs";
import { orphanOrders, recordOrder, settleOrder, splitName } from "./orders";
import { Session, configureSession, progress, session } from "./session";
import { INVALID_SERVICE_ID, InstanceIp, isDefaultRdns } from "./wire";

export type IpStatus = "purchasing" | "assigned";

export interface SecondaryIpOutputs extends SecondaryIpInputs {
  /** The address; "" while the order is pending. */
  ip: string;
  monthlyPriceUsd: number;
  /** When this resource got the IP (bought or taken over): day 1 of its warm-up; "" while pending. */
  since: string;
  status: IpStatus;
  /** When the IP was ordered, for an IP this resource bought. */
  orderedAt?: string;
  /** false while pending on an order whose purchase answer was lost (it may not exist). */
  orderAnswered?: boolean;
}

/** The stack whose writer lease covers this slot's purchases (older states carry no stack: the tenant's own). */
const leaseOwner = (i: SecondaryIpInputs): string => i.stack ?? i.tenant;
const label = (i: Partial<SecondaryIpInputs>) =>
  i.rdns && !isUnknown(i.rdns) ? `hostwinds.SecondaryIp ${i.rdns}` : "hostwinds.SecondaryIp";
const slotOf = (i: Partial<SecondaryIpInputs>): string => i.slot ?? i.rdns ?? "?";

/** What this process knows of each slot of each server: the IP it holds, or the order it waits for. */
interface SlotView {
  ip?: string;
  orderedAt?: number;
  /** false: the purchase's answer was lost, so the order may not exist (it ranks after answered ones). */
  answered?: boolean;
}
const slots = new Map<number, Map<string, SlotView>>();
const slotsOn = (serviceId: number) => {
  let m = slots.get(serviceId);
  if (!m) slots.set(serviceId, (m = new Map()));
  return m;
};
function note(serviceId: number, slot: string, view: SlotView): void {
  slotsOn(serviceId).set(slot, view);
}
/** The slot other than `slot` that holds `ip` on the server, if any. */
function holderOf(serviceId: number, ip: string, slot: string): string | undefined {
  for (const [k, v] of slotsOn(serviceId)) if (k !== slot && v.ip === ip) return k;
  return undefined;
}
/** Orders that other slots in state wait for. */
const waitedFor = (serviceId: number, slot: string): number[] => waiting(serviceId, slot).map((o) => o.at);
const waiting = (serviceId: number, slot: string): Array<{ at: number; answered: boolean }> =>
  [...slotsOn(serviceId)]
    .filter(([k, v]) => k !== slot && !v.ip && v.orderedAt)
    .map(([, v]) => ({ at: v.orderedAt!, answered: v.answered !== false }));
/** Siblings this process has not heard of (a `pulumi up --target` leaves them out of the run). */
const unheard = (inputs: SecondaryIpInputs): string[] =>
  inputs.siblings.filter((k) => k !== slotOf(inputs) && !slotsOn(inputs.serviceId).has(k));
/** When the wait for an order ends in this run: ipTimeoutMs after it was sent, and at least one look. */
const deadlineOf = (s: Session, orderedAt: number): number =>
  Math.max(orderedAt + s.settings.ipTimeoutMs, Date.now() + s.settings.pollIntervalMs);

function outputs(
  inputs: SecondaryIpInputs,
  s: Session,
  o: { ip: string; rdns: string; since: string; status: IpStatus; orderedAt?: number | string; answered?: boolean },
): SecondaryIpOutputs {
  const orderedAt = typeof o.orderedAt === "number" ? new Date(o.orderedAt).toISOString() : o.orderedAt;
  return compact({
    ...inputs,
    rdns: o.rdns,
    ip: o.ip,
    monthlyPriceUsd: s.settings.ipMonthlyPriceUsd,
    since: o.since,
    status: o.status,
    orderedAt,
    orderAnswered: o.status === "purchasing" && o.answered === false ? false : undefined,
  });
}

/** The tenant's server, or a clear error: IPs are only bought on or released from this stack's own servers. */
async function stackServer(
  s: Session,
  inputs: Pick<SecondaryIpInputs, "tenant" | "stack" | "serviceId" | "rdns" | "serverMark">,
  doing: string,
  fresh = true,
) {
  // A fresh read before any release; for buying, the name as last read or written in this process
  // (only this process changes it while the run lasts) saves a call per IP.
  const server = await (fresh ? s.instance(inputs.serviceId, true) : s.server(inputs.serviceId));
  if (!server) return undefined;
  // The server's mark (inputs.ts) is exactly the one its Instance computed from the full owner; a slot
  // written before it was an input checks the tenant's part of it.
  const mark = parseServerName(server.srvrname);
  const ok = inputs.serverMark ? mark?.mark === inputs.serverMark : mark?.tenantTag === tenantTag(inputs.tenant);
  if (!ok) {
    throw new Error(
      `${label(inputs)}: server ${inputs.serviceId} ("${splitName(server.srvrname).mark}") is ${mark ? `marked ${mark.mark}` : "not marked as any tenant's"}, ` +
        `not as ${inputs.serverMark ? `${inputs.serverMark} (tenant ${inputs.tenant}'s server)` : `tenant ${inputs.tenant}'s`}; refusing to ${doing}. Nothing was bought or released.`,
    );
  }
  return server;
}

/** How long a new slot waits to hear its siblings (tests and the invariants harness shorten it). */
export const timing = { siblingWaitMs: 10_000 };

/** Waits (briefly) until every sibling slot has been heard of in this process, so their IPs are known. */
async function hearSiblings(inputs: SecondaryIpInputs): Promise<void> {
  const deadline = Date.now() + timing.siblingWaitMs;
  const known = slotsOn(inputs.serviceId);
  while (Date.now() < deadline && inputs.siblings.some((k) => !known.has(k) && k !== slotOf(inputs))) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** IPs on the server that no other slot holds and that this slot may take. */
function free(ips: InstanceIp[], inputs: SecondaryIpInputs, mainIp: string | undefined): InstanceIp[] {
  return ips.filter(
    (i) =>
      i.ip !== mainIp &&
      !holderOf(inputs.serviceId, i.ip, slotOf(inputs)) &&
      !inputs.retire.includes(i.ip) &&
      (i.rdns === inputs.rdns || isDefaultRdns(i.rdns, i.ip)),
  );
}

type Found = { ip: InstanceIp; orderedAt?: number } | { pending: number; answered: boolean };

/**
 * Polls for an IP answering the order at `orderedAt` until the order's own deadline (deadlineOf);
 * undefined when none came: the order stays open, it is never taken as gone.
 */
async function awaitArrival(
  s: Session,
  inputs: SecondaryIpInputs,
  mainIp: string | undefined,
  o: { orderedAt: number; answered?: boolean; before?: Set<string>; answerIp?: string },
): Promise<InstanceIp | undefined> {
  // IPs are interchangeable until their rDNS is set: answered orders are served oldest first, and
  // an order whose answer was lost only after every answered one (it may be a phantom).
  const answered = o.answered !== false;
  const reservedFor = () =>
    waiting(inputs.serviceId, slotOf(inputs)).filter((w) =>
      answered ? w.answered && w.at < o.orderedAt : w.answered || w.at < o.orderedAt,
    ).length;
  const timeoutMs = deadlineOf(s, o.orderedAt) - Date.now();
  try {
    return await s.client.waitFor(
      `a new IP on server ${inputs.serviceId}`,
      async () => {
        const candidates = free(await s.ips(inputs.serviceId, true), inputs, mainIp).filter((i) => !o.before?.has(i.ip));
        const named = o.answerIp ? candidates.find((i) => i.ip === o.answerIp) : undefined;
        return named ?? candidates[reservedFor()];
      },
      {
        timeoutMs,
        initialDelayMs: s.settings.pollIntervalMs,
        maxDelayMs: s.settings.pollIntervalMs,
        onProgress: progress,
      },
    );
  } catch (e) {
    if (e instanceof HostwindsError && e.action === "wait") return undefined;
    throw e;
  }
}

/** Claims an arrived IP for the order at `orderedAt` (in this process and in the journal). */
async function claim(s: Session, inputs: SecondaryIpInputs, ip: InstanceIp, orderedAt: number | undefined): Promise<InstanceIp> {
  note(inputs.serviceId, slotOf(inputs), { ip: ip.ip });
  if (orderedAt !== undefined) await settleOrder(s, inputs.serviceId, orderedAt);
  return ip;
}

/** Records the order, sends it, and waits for the IP (or returns it as pending). Never re-sends. */
async function buy(s: Session, inputs: SecondaryIpInputs, ips: InstanceIp[], mainIp: string | undefined): Promise<Found> {
  const before = new Set(ips.map((i) => i.ip));
  await s.purchaseLease(leaseOwner(inputs), `buy an IP for ${slotOf(inputs)} on server ${inputs.serviceId}`);
  const orderedAt = await recordOrder(s, inputs.serviceId);
  note(inputs.serviceId, slotOf(inputs), { orderedAt });
  let answerIp: string | undefined;
  let answered = true;
  try {
    answerIp = await s.client.buySecondaryIp(inputs.serviceId, s.settings.ipPurchaseAction);
  } catch (e) {
    if (!(e instanceof OutcomeUnknownError)) {
      // Hostwinds answered "no": nothing was bought, so the journal entry goes.
      await settleOrder(s, inputs.serviceId, orderedAt).catch(() => undefined);
      note(inputs.serviceId, slotOf(inputs), {});
      throw e;
    }
    answered = false;
    note(inputs.serviceId, slotOf(inputs), { orderedAt, answered });
    progress(
      `${label(inputs)}: the answer to the IP purchase was lost; the order stays recorded and is watched for, never sent again ` +
        "(it ranks after every answered order, so if it never existed it takes no other slot's IP)",
    );
  }
  s.ipsChanged(inputs.serviceId);
  const ip = await awaitArrival(s, inputs, mainIp, { orderedAt, answered, before, answerIp });
  if (ip) return { ip: await claim(s, inputs, ip, orderedAt), orderedAt };
  progress(
    `${label(inputs)}: Hostwinds has not assigned the IP ordered at ${new Date(orderedAt).toISOString()} within ${Math.round(s.settings.ipTimeoutMs / 1000)} s; ` +
      "it stays in state as a pending order (status purchasing) and every later `pulumi up` waits on it, never ordering again",
  );
  return { pending: orderedAt, answered };
}

/** The IP this resource should own: adopted, left by an interrupted run, answering an open order, or bought now. */
async function findOrBuy(s: Session, inputs: SecondaryIpInputs): Promise<Found> {
  const server = await stackServer(s, inputs, "buy an IP for it", false);
  if (!server) throw new Error(`${label(inputs)}: server ${inputs.serviceId} is not in this Hostwinds account. Nothing was bought.`);
  const mainIp = server.main_ip ?? undefined;
  // A shared read (seconds old at most) is enough: claims in this process are tracked, and every
  // purchase or release drops it.
  const ips = await s.ips(inputs.serviceId);
  const slot = slotOf(inputs);

  if (inputs.adoptIp !== undefined) {
    const found = ips.find((i) => i.ip === inputs.adoptIp);
    if (!found)
      throw new Error(
        `${label(inputs)}: adoptIp ${inputs.adoptIp} is not on server ${inputs.serviceId} (it has ${ips.map((i) => i.ip).join(", ") || "no IPs"}). Nothing was bought.`,
      );
    if (found.ip === mainIp)
      throw new Error(
        `${label(inputs)}: adoptIp ${found.ip} is server ${inputs.serviceId}'s main IP; only secondary IPs can be managed as SecondaryIp. Nothing was bought.`,
      );
    const holder = holderOf(inputs.serviceId, found.ip, slot);
    if (holder) throw new Error(`${label(inputs)}: adoptIp ${found.ip} is already held by ${holder} in this stack. Nothing was bought.`);
    progress(`${label(inputs)}: adopted ${found.ip} on server ${inputs.serviceId}`);
    return { ip: await claim(s, inputs, found, undefined) };
  }

  const open = free(ips, inputs, mainIp);
  const mine = open.find((i) => i.rdns === inputs.rdns);
  if (mine) {
    progress(
      `${label(inputs)}: ${mine.ip} already carries this rDNS but is not in state (an earlier run stopped before saving it); taking it over`,
    );
    return { ip: await claim(s, inputs, mine, undefined) };
  }
  const journal = splitName(server.srvrname).orders;
  const others = waitedFor(inputs.serviceId, slot);
  const missing = unheard(inputs);
  if (missing.length) {
    // Siblings not in this run (`--target`): each holds one of the open IPs or open orders, and
    // which cannot be told without rDNS. Buy only when they account for all of them; never take one.
    const unaccounted = open.length + orphanOrders(journal, others).length - others.length - missing.length;
    if (unaccounted > 0)
      throw new Error(
        `${label(inputs)}: slots ${missing.join(", ")} of server ${inputs.serviceId} are not part of this run (pulumi up --target?), and the server has ` +
          `${open.length} IP(s) and ${journal.length} open order(s) that no slot heard here holds; which are theirs cannot be told, so this slot takes none and buys nothing. ` +
          "Run `pulumi up` without --target (or --target every slot of the server).",
      );
    return buy(s, inputs, ips, mainIp);
  }
  // Unclaimed IPs beyond those the pending orders of other slots will take.
  const spare = open.slice(others.length);
  if (spare.length) {
    const orphan = orphanOrders(journal, others)[0];
    progress(
      `${label(inputs)}: ${spare[0].ip} on server ${inputs.serviceId} is held by no slot (bought by a run that stopped before saving it?); taking it over instead of buying again`,
    );
    return { ip: await claim(s, inputs, spare[0], orphan), orderedAt: orphan };
  }
  const live = orphanOrders(journal, others);
  if (live.length) {
    // An order recorded by a run that died before saving its slot (sent or not, nobody can say):
    // this slot waits for it and never orders again; it is settled only by an IP arriving.
    const orderedAt = live[0];
    note(inputs.serviceId, slot, { orderedAt, answered: false });
    progress(
      `${label(inputs)}: an IP order recorded at ${new Date(orderedAt).toISOString()} on server ${inputs.serviceId} belongs to no slot in state (a run stopped after ordering); waiting for it instead of buying again`,
    );
    const ip = await awaitArrival(s, inputs, mainIp, { orderedAt, answered: false });
    if (ip) return { ip: await claim(s, inputs, ip, orderedAt), orderedAt };
    progress(
      `${label(inputs)}: no IP has answered the order recorded at ${new Date(orderedAt).toISOString()} yet; this slot stays pending on it. ` +
        `If the Hostwinds panel shows no such order, remove it from server ${inputs.serviceId}'s order journal (orders.ts) and run \`pulumi up\` again.`,
    );
    return { pending: orderedAt, answered: false };
  }
  return buy(s, inputs, ips, mainIp);
}

async function setRdnsOrFail(s: Session, inputs: SecondaryIpInputs, id: string, ip: InstanceIp, since: string, orderedAt?: number) {
  if (ip.rdns === inputs.rdns) return;
  try {
    await s.client.setRdns(inputs.serviceId, ip.ip, inputs.rdns);
    s.ipsChanged(inputs.serviceId);
  } catch (e) {
    throw createdButFailed(
      id,
      outputs(inputs, s, { ip: ip.ip, rdns: ip.rdns ?? "", since, status: "assigned", orderedAt }) as never,
      `${label(inputs)}: ${ip.ip} is on server ${inputs.serviceId} but its rDNS could not be set: ${e instanceof Error ? e.message : e}. It stays in state; run \`pulumi up\` again.`,
    );
  }
}

/**
 * Releases IPs on this stack's server that no slot holds and no slot of this program will claim:
 * bought by a run killed before saving its slots, when the program now asks for fewer (4 bought,
 * then 3 asked). Only when every sibling has been heard (never under `--target`), under the
 * server's lock and the stack's writer lease (no other run is buying here), and never more than
 * the unclaimed IPs beyond what the slots still without an IP (pending orders or about to claim)
 * will take. A pending order that arrives later is claimed by its slot, so nothing is owed to it here.
 */
async function releaseSurplus(s: Session, inputs: SecondaryIpInputs): Promise<void> {
  if (unheard(inputs).length) return;
  const server = await s.server(inputs.serviceId);
  if (!server) return;
  const known = slotsOn(inputs.serviceId);
  const held = new Set([...known.values()].map((v) => v.ip).filter(Boolean));
  const claimants = [...inputs.siblings, slotOf(inputs)].filter((k, i, a) => a.indexOf(k) === i && !known.get(k)?.ip).length;
  const unclaimed = (await s.ips(inputs.serviceId, true)).filter(
    (i) => i.ip !== server.main_ip && !held.has(i.ip) && !inputs.retire.includes(i.ip),
  );
  const journal = splitName(server.srvrname).orders.length;
  // Open orders not yet answered will bring IPs for claimants too: only what exceeds every claim goes.
  const surplus = unclaimed.length - claimants;
  if (surplus <= 0 || journal > claimants) return;
  for (const ip of unclaimed.slice(unclaimed.length - surplus)) {
    progress(
      `${label(inputs)}: ${ip.ip} on server ${inputs.serviceId} is held by no slot and no slot of this stack will claim it (bought by a run that stopped before saving it); releasing it`,
    );
    await s.client.deleteIp(inputs.serviceId, ip.ip);
  }
  s.ipsChanged(inputs.serviceId);
}

const pendingId = (serviceId: number, orderedAt: number) => `order-${serviceId}-${orderedAt}`;

export const provider: pulumi.dynamic.ResourceProvider<SecondaryIpInputs, SecondaryIpOutputs> = withTruthfulPurchases({
  async configure(req) {
    configureSession((key) => req.config.get(key));
  },

  async check(_olds, news) {
    return checkInputs(secondaryIpInputsSchema, label(news), news);
  },

  async diff(_id, olds, news) {
    // The engine diffs every slot of the stack before (or while) new ones are created: this is how
    // this process learns which IP each slot in state holds.
    if (typeof olds.serviceId === "number")
      note(olds.serviceId, slotOf(news.slot && !isUnknown(news.slot) ? news : olds), {
        ip: olds.ip || undefined,
        orderedAt: olds.orderedAt ? Date.parse(olds.orderedAt) : undefined,
        answered: olds.orderAnswered,
      });
    const replaces: string[] = [];
    if (isUnknown(news.serviceId) || olds.serviceId !== news.serviceId) replaces.push("serviceId");
    if (olds.tenant !== news.tenant) replaces.push("tenant");
    if (news.adoptIp !== undefined && news.adoptIp !== olds.ip) replaces.push("adoptIp");
    // Retiring this slot's IP replaces it the engine's default way: the new IP is bought and DNS,
    // SPF and outbound routing move to it before the old one is released, at the end of the run.
    if (Array.isArray(news.retire) && olds.ip && news.retire.includes(olds.ip)) replaces.push("retire");
    // A pending order is settled by an update.
    const pending = olds.status === "purchasing";
    // The server's mark changed (renamed to a new owner's mark): recorded in place, so a later release checks the live one.
    const remarked = news.serverMark !== undefined && !isUnknown(news.serverMark) && news.serverMark !== olds.serverMark;
    return { changes: replaces.length > 0 || olds.rdns !== news.rdns || pending || remarked, replaces };
  },

  async create(inputs) {
    const s = session();
    note(inputs.serviceId, slotOf(inputs), slotsOn(inputs.serviceId).get(slotOf(inputs)) ?? {});
    await hearSiblings(inputs);
    // Only finding or buying waits for the server's lock; rDNS is set while the next purchase runs.
    const found = await s.oneAtATime(inputs.serviceId, async () => {
      const f = await findOrBuy(s, inputs);
      await releaseSurplus(s, inputs);
      return f;
    });
    if ("pending" in found) {
      return {
        id: pendingId(inputs.serviceId, found.pending),
        outs: outputs(inputs, s, {
          ip: "",
          rdns: inputs.rdns,
          since: "",
          status: "purchasing",
          orderedAt: found.pending,
          answered: found.answered,
        }),
      };
    }
    const since = new Date().toISOString();
    await setRdnsOrFail(s, inputs, found.ip.ip, found.ip, since, found.orderedAt);
    return {
      id: found.ip.ip,
      outs: outputs(inputs, s, { ip: found.ip.ip, rdns: inputs.rdns, since, status: "assigned", orderedAt: found.orderedAt }),
    };
  },

  async read(id, stored) {
    const props = stored as SecondaryIpOutputs;
    const s = session();
    const slot = slotOf(props);
    let ips: InstanceIp[];
    try {
      ips = await s.ips(props.serviceId);
    } catch (e) {
      if (e instanceof HostwindsError && e.detail === INVALID_SERVICE_ID) {
        await s.confirmAccess(`${label(props)}: refresh of ${props.ip || "a pending IP order"} on server ${props.serviceId}`);
        return { id: "" } as never; // the server is gone, and its IPs with it
      }
      throw e;
    }
    if (props.status === "purchasing") {
      // Still an order: an up settles it (reads never change the account).
      note(props.serviceId, slot, { orderedAt: props.orderedAt ? Date.parse(props.orderedAt) : undefined, answered: props.orderAnswered });
      return { id, props, inputs: inputsOf(props) as never };
    }
    const ip = props.ip || id;
    const found = ips.find((i) => i.ip === ip);
    if (!found) return { id: "" } as never;
    const holder = holderOf(props.serviceId, ip, slot);
    if (holder) {
      // One IP, one slot: a second claim is drift to fix (this slot leaves state; `up` gives it its own IP).
      progress(
        `${label(props)}: ${ip} is also held by ${holder} in this stack; dropping this claim so that \`pulumi up\` gives ${slot} its own IP`,
      );
      return { id: "" } as never;
    }
    note(props.serviceId, slot, { ip });
    // rDNS only when Hostwinds reports it (no source says it does): otherwise what this stack set stands.
    const rdns = found.rdns ?? props.rdns;
    const inputs = inputsOf({ ...props, rdns });
    return {
      id,
      props: outputs(inputs, s, {
        ip,
        rdns,
        since: props.since || new Date().toISOString(),
        status: "assigned",
        orderedAt: props.orderedAt,
      }),
      inputs: inputs as never,
    };
  },

  async update(id, olds, news) {
    const s = session();
    if (olds.status === "purchasing") {
      const orderedAt = olds.orderedAt ? Date.parse(olds.orderedAt) : Date.now();
      const ip = await s.oneAtATime(news.serviceId, async () => {
        const server = await stackServer(s, news, "settle an IP order on it", false);
        if (!server) throw new Error(`${label(news)}: server ${news.serviceId} is no longer in the account; run \`pulumi refresh\`.`);
        note(news.serviceId, slotOf(news), { orderedAt, answered: olds.orderAnswered });
        await hearSiblings(news);
        const missing = unheard(news);
        if (missing.length) {
          progress(
            `${label(news)}: slots ${missing.join(", ")} are not part of this run (pulumi up --target?), so an arrived IP cannot be told from theirs; the order stays pending`,
          );
          return undefined;
        }
        const got = await awaitArrival(s, news, server.main_ip ?? undefined, { orderedAt, answered: olds.orderAnswered });
        if (!got) return undefined;
        const claimed = await claim(s, news, got, orderedAt);
        await releaseSurplus(s, news);
        return claimed;
      });
      if (!ip) {
        progress(`${label(news)}: the IP ordered at ${olds.orderedAt} is still not assigned; it stays a pending order`);
        return {
          outs: outputs(news, s, { ip: "", rdns: news.rdns, since: "", status: "purchasing", orderedAt, answered: olds.orderAnswered }),
        };
      }
      const since = new Date().toISOString();
      await setRdnsOrFail(s, news, id, ip, since, orderedAt);
      progress(`${label(news)}: the pending order got ${ip.ip}`);
      return { outs: outputs(news, s, { ip: ip.ip, rdns: news.rdns, since, status: "assigned", orderedAt }) };
    }
    const ip = olds.ip || id;
    if (olds.rdns !== news.rdns) {
      await s.oneAtATime(news.serviceId, async () => {
        await s.client.setRdns(news.serviceId, ip, news.rdns);
        s.ipsChanged(news.serviceId);
      });
    }
    return {
      outs: outputs(news, s, {
        ip,
        rdns: news.rdns,
        since: olds.since ?? new Date().toISOString(),
        status: "assigned",
        orderedAt: olds.orderedAt,
      }),
    };
  },

  async delete(id, props) {
    const s = session();
    const slot = slotOf(props);
    await s.oneAtATime(props.serviceId, async () => {
      const server = await stackServer(s, props, `release ${props.ip || "a pending IP order"} from it`);
      if (!server) {
        await s.confirmAccess(`${label(props)}: release of ${props.ip || "a pending IP order"} on server ${props.serviceId}`);
        progress(`${label(props)}: server ${props.serviceId} is gone, and its IPs with it`);
        return;
      }
      let ip = props.ip || (props.status === "purchasing" ? "" : id);
      if (props.status === "purchasing") {
        // A pending order is released once it arrives (no public action cancels an order).
        const orderedAt = props.orderedAt ? Date.parse(props.orderedAt) : Date.now();
        note(props.serviceId, slot, { orderedAt, answered: props.orderAnswered });
        const got = await awaitArrival(s, props, server.main_ip ?? undefined, { orderedAt, answered: props.orderAnswered });
        if (!got)
          throw new Error(
            `${label(props)}: the IP ordered at ${props.orderedAt} on server ${props.serviceId} has not arrived, and no public action cancels an order; ` +
              "it stays in state and is released when it arrives: run `pulumi destroy` (or `up`) again later.",
          );
        await claim(s, props, got, orderedAt);
        ip = got.ip;
      }
      if (server.main_ip === ip) {
        throw new Error(
          `${label(props)}: ${ip} is server ${props.serviceId}'s main IP; refusing to release it. Run \`pulumi refresh\` if state is out of date.`,
        );
      }
      const holder = holderOf(props.serviceId, ip, slot);
      if (holder) {
        progress(`${label(props)}: ${ip} is now held by ${holder}; not releasing it`);
      } else {
        const ips = await s.ips(props.serviceId, true);
        if (!ips.some((i) => i.ip === ip)) progress(`${label(props)}: ${ip} was already released`);
        else await s.client.deleteIp(props.serviceId, ip);
      }
      slotsOn(props.serviceId).delete(slot);
      s.ipsChanged(props.serviceId);
    });
  },
});

function inputsOf(p: SecondaryIpOutputs): SecondaryIpInputs {
  return compact({
    tenant: p.tenant,
    stack: p.stack,
    serverMark: p.serverMark,
    slot: p.slot,
    siblings: p.siblings ?? [],
    serviceId: p.serviceId,
    rdns: p.rdns,
    adoptIp: p.adoptIp,
    retire: p.retire ?? [],
  });
}
