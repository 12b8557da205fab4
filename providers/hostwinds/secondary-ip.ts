/**
 * The implementation behind `hostwinds.SecondaryIp` (loaded lazily by the
 * provider process; see providers/lib/lazy-provider.ts).
 *
 * Hostwinds names no new IP when one is bought, so purchases on one server
 * happen one at a time and the new IP is the one that was not in the list
 * before. An IP is claimed by setting its reverse DNS: a secondary IP still
 * carrying no rDNS (or Hostwinds' default) belongs to nobody, so after a run
 * that stopped between buying and saving state, the next run takes it over
 * instead of buying again. Releasing refuses a main IP and any IP on a server
 * that is not the tenant's.
 */
import type * as pulumi from "@pulumi/pulumi";
import { checkInputs, compact, createdButFailed, isUnknown } from "../lib/dynamic";
import { OutcomeUnknownError } from "./client";
import { HostwindsError } from "./errors";
import { SecondaryIpInputs, belongsToTenant, secondaryIpInputsSchema } from "./inputs";
import { Session, configureSession, progress, session } from "./session";
import { INVALID_SERVICE_ID, InstanceIp, isDefaultRdns } from "./wire";

export interface SecondaryIpOutputs extends SecondaryIpInputs {
  ip: string;
  monthlyPriceUsd: number;
  /** When this resource got the IP (bought or taken over): day 1 of its warm-up. */
  since: string;
}

/** How long to look for an IP whose purchase answer was lost. */
const SETTLE_LOST_PURCHASE_MS = 120_000;

const label = (i: Partial<SecondaryIpInputs>) =>
  i.rdns && !isUnknown(i.rdns) ? `hostwinds.SecondaryIp ${i.rdns}` : "hostwinds.SecondaryIp";

/** IPs claimed in this process, so two resources never take the same unclaimed IP. */
const claimed = new Set<string>();

function outputs(inputs: SecondaryIpInputs, ip: string, rdns: string, s: Session, since: string): SecondaryIpOutputs {
  return compact({ ...inputs, rdns, ip, monthlyPriceUsd: s.settings.ipMonthlyPriceUsd, since });
}

/** The tenant's server, or a clear error: IPs are only bought on or released from the tenant's own servers. */
async function tenantServer(s: Session, inputs: Pick<SecondaryIpInputs, "tenant" | "serviceId" | "rdns">, doing: string, fresh: boolean) {
  const server = await (fresh ? s.instance(inputs.serviceId, true) : s.server(inputs.serviceId));
  if (!server) return undefined;
  if (!belongsToTenant(server.srvrname, inputs.tenant)) {
    throw new Error(
      `${label(inputs)}: server ${inputs.serviceId} ("${server.srvrname}") is not one of tenant ${inputs.tenant}'s servers; refusing to ${doing}.`,
    );
  }
  return server;
}

/** Buys one IP and returns it: the IP in the list afterwards that was not there before. */
async function buyOne(s: Session, inputs: SecondaryIpInputs, before: InstanceIp[], mainIp: string | undefined): Promise<InstanceIp> {
  const known = new Set(before.map((i) => i.ip));
  let lost: OutcomeUnknownError | undefined;
  try {
    await s.client.buySecondaryIp(inputs.serviceId);
  } catch (e) {
    if (!(e instanceof OutcomeUnknownError)) throw e;
    lost = e;
    progress(
      `${label(inputs)}: the answer to the IP purchase was lost; watching server ${inputs.serviceId}'s IP list instead of buying again`,
    );
  }
  s.ipsChanged(inputs.serviceId);
  const started = Date.now();
  try {
    // Purchases on a server are serialized, so time spent looking too early is time every later
    // purchase waits; under the rate limit, early looks also delay the calls of other resources.
    const ip = await s.client.waitFor(
      `a new IP on server ${inputs.serviceId}`,
      async () => (await s.ips(inputs.serviceId, true)).find((i) => !known.has(i.ip) && i.ip !== mainIp && !claimed.has(i.ip)),
      {
        timeoutMs: lost ? SETTLE_LOST_PURCHASE_MS : s.settings.ipTimeoutMs,
        firstCheckAfterMs: s.lastIpDelayMs !== undefined ? Math.max(0, s.lastIpDelayMs - s.settings.pollIntervalMs) : undefined,
        initialDelayMs: s.settings.pollIntervalMs,
        maxDelayMs: s.settings.pollIntervalMs,
        onProgress: progress,
      },
    );
    s.lastIpDelayMs = Date.now() - started;
    return ip;
  } catch (e) {
    if (lost) {
      throw new Error(
        `${label(inputs)}: the IP purchase's answer was lost (${lost.detail}) and no new IP appeared on server ${inputs.serviceId} within ${SETTLE_LOST_PURCHASE_MS / 1000} s. ` +
          "It was not bought again. Run `pulumi up` again later: an IP that arrives meanwhile has no rDNS yet and is taken over instead of buying another.",
      );
    }
    throw e;
  }
}

/** The IP this resource should own: adopted, left over from an interrupted run, or bought now. */
async function findOrBuy(s: Session, inputs: SecondaryIpInputs): Promise<InstanceIp> {
  // Shared reads (at most a few seconds old) are enough here: IPs claimed in this process are
  // excluded by `claimed`, and a purchase invalidates them. They save two calls per IP.
  const server = await tenantServer(s, inputs, "buy an IP for it", false);
  if (!server) throw new Error(`${label(inputs)}: server ${inputs.serviceId} is not in this Hostwinds account. Nothing was bought.`);
  const mainIp = server.main_ip ?? undefined;
  const ips = await s.ips(inputs.serviceId);

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
    if (claimed.has(found.ip))
      throw new Error(`${label(inputs)}: adoptIp ${found.ip} is already managed by another SecondaryIp in this stack.`);
    progress(`${label(inputs)}: adopted ${found.ip} on server ${inputs.serviceId}`);
    return found;
  }
  // An IP being retired still carries this slot's rDNS until it is released: never take it back.
  const secondary = ips.filter((i) => i.ip !== mainIp && !claimed.has(i.ip) && !inputs.retire.includes(i.ip));
  const mine = secondary.find((i) => i.rdns === inputs.rdns);
  if (mine) {
    progress(
      `${label(inputs)}: ${mine.ip} already carries this rDNS but is not in state (an earlier run stopped before saving it); taking it over instead of buying again`,
    );
    return mine;
  }
  const unowned = secondary.find((i) => isDefaultRdns(i.rdns, i.ip));
  if (unowned) {
    progress(
      `${label(inputs)}: ${unowned.ip} on server ${inputs.serviceId} has no rDNS and no owner (bought by a run that stopped before saving it?); taking it over instead of buying again`,
    );
    return unowned;
  }
  return buyOne(s, inputs, ips, mainIp);
}

export const provider: pulumi.dynamic.ResourceProvider<SecondaryIpInputs, SecondaryIpOutputs> = {
  async configure(req) {
    configureSession((key) => req.config.get(key));
  },

  async check(_olds, news) {
    return checkInputs(secondaryIpInputsSchema, label(news), news);
  },

  async diff(id, olds, news) {
    const replaces: string[] = [];
    if (isUnknown(news.serviceId) || olds.serviceId !== news.serviceId) replaces.push("serviceId");
    if (olds.tenant !== news.tenant) replaces.push("tenant");
    if (news.adoptIp !== undefined && news.adoptIp !== id) replaces.push("adoptIp");
    // Retiring this slot's IP replaces it the engine's default way: the new IP is bought and DNS,
    // SPF and outbound routing move to it before the old one is released, at the end of the run.
    if (Array.isArray(news.retire) && news.retire.includes(id)) replaces.push("retire");
    // A retire list that does not name this IP is no change to it (and no noise in the preview).
    const rdns = olds.rdns !== news.rdns;
    return { changes: replaces.length > 0 || rdns, replaces };
  },

  async create(inputs) {
    const s = session();
    // Only finding or buying waits for the server's lock; the IP is claimed in this process at
    // once and by its rDNS just after, while the next purchase on the server is already under way.
    const ip = await s.oneAtATime(inputs.serviceId, async () => {
      const found = await findOrBuy(s, inputs);
      claimed.add(found.ip);
      return found;
    });
    const since = new Date().toISOString();
    if (ip.rdns !== inputs.rdns) {
      try {
        await s.client.setRdns(inputs.serviceId, ip.ip, inputs.rdns);
      } catch (e) {
        throw createdButFailed(
          ip.ip,
          outputs(inputs, ip.ip, ip.rdns ?? "", s, since) as never,
          `${label(inputs)}: ${ip.ip} is on server ${inputs.serviceId} but its rDNS could not be set: ${e instanceof Error ? e.message : e}. It stays in state; run \`pulumi up\` again.`,
        );
      }
    }
    return { id: ip.ip, outs: outputs(inputs, ip.ip, inputs.rdns, s, since) };
  },

  async read(id, stored) {
    const props = stored as SecondaryIpOutputs;
    const s = session();
    let ips: InstanceIp[];
    try {
      ips = await s.ips(props.serviceId);
    } catch (e) {
      if (e instanceof HostwindsError && e.detail === INVALID_SERVICE_ID) return { id: "" } as never; // the server is gone, and its IPs with it
      throw e;
    }
    const found = ips.find((i) => i.ip === id);
    if (!found) return { id: "" } as never;
    const rdns = found.rdns ?? "";
    const inputs = compact({ tenant: props.tenant, serviceId: props.serviceId, rdns, adoptIp: props.adoptIp, retire: props.retire ?? [] });
    return { id, props: outputs(inputs, id, rdns, s, props.since ?? new Date().toISOString()), inputs: inputs as never };
  },

  async update(id, olds, news) {
    const s = session();
    if (olds.rdns !== news.rdns) {
      await s.oneAtATime(news.serviceId, async () => {
        await s.client.setRdns(news.serviceId, id, news.rdns);
        s.ipsChanged(news.serviceId);
      });
    }
    return { outs: outputs(news, id, news.rdns, s, olds.since ?? new Date().toISOString()) };
  },

  async delete(id, props) {
    const s = session();
    await s.oneAtATime(props.serviceId, async () => {
      const server = await tenantServer(s, props, `release ${id} from it`, true);
      if (!server) {
        progress(`${label(props)}: server ${props.serviceId} is gone, and ${id} with it`);
        return;
      }
      if (server.main_ip === id) {
        throw new Error(
          `${label(props)}: ${id} is server ${props.serviceId}'s main IP; refusing to release it. Run \`pulumi refresh\` if state is out of date.`,
        );
      }
      const ips = await s.ips(props.serviceId, true);
      if (!ips.some((i) => i.ip === id)) {
        progress(`${label(props)}: ${id} was already released`);
      } else {
        await s.client.deleteIp(props.serviceId, id);
      }
      claimed.delete(id);
      s.ipsChanged(props.serviceId);
    });
  },
};
