/**
 * `npm run fleet -- probe`: what the Hostwinds account really answers, for each entry of
 * ASSUMPTIONS (providers/hostwinds/wire.ts), with calls that cost nothing: reads, an IP purchase
 * sent for service id 0 (Hostwinds checks the action before anything else: "Invalid Action." for
 * an unknown one, HWF; and "A valid serviceid is required." for an id that is not the key's, HWF,
 * so nothing can be bought), and with `--rename SERVICEID` a rename of a server the operator names,
 * restored after. Each assumption is CONFIRMED, REFUTED or UNKNOWN, with the answer's shape (never
 * its values). `--write` records the result in the catalogue (providers/hostwinds/catalog.json).
 */
import { HostwindsClient, UnexpectedShapeError } from "../../../providers/hostwinds/client";
import { HostwindsError } from "../../../providers/hostwinds/errors";
import { MAX_SERVER_NAME } from "../../../providers/hostwinds/inputs";
import {
  ASSUMPTIONS,
  DEFAULT_IP_PURCHASE_ACTION,
  INVALID_SERVICE_ID,
  Instance,
  LIST_SSH_KEYS_ACTION,
  REINSTALL_ACTION,
  UPGRADE_ACTION,
  sameAddresses,
  shapeOf,
} from "../../../providers/hostwinds/wire";

export type Verdict = "CONFIRMED" | "REFUTED" | "UNKNOWN";
export interface ProbeResult {
  /** The ASSUMPTIONS entry, 1-based, and its text. */
  n: number;
  what: string;
  verdict: Verdict;
  /** What was seen: the answer's shape or message; never a value that could be a secret. */
  evidence: string;
}

export interface ProbeOptions {
  /** A server to rename and restore (the name check); without it the names are judged from the account's own servers. */
  renameServiceId?: number;
  /** The IP purchase action to check (default the provider setting's default). */
  ipPurchaseAction?: string;
  log?: (line: string) => void;
}

export { accountFingerprint } from "../../../providers/hostwinds/catalog";

async function raw(client: HostwindsClient, action: string, params: Record<string, string | number> = {}) {
  try {
    const r = await client.send(action, "read", params);
    return {
      ok: true as const,
      shape: r.kind === "data" ? `{success: ${shapeOf(r.data)}}` : shapeOf(r.items),
      data: r.kind === "data" ? r.data : undefined,
    };
  } catch (e) {
    if (e instanceof HostwindsError && !e.retryable) return { ok: false as const, message: e.detail };
    throw e;
  }
}

/** The probe: one result per ASSUMPTIONS entry, in its order. */
export async function probeAccount(client: HostwindsClient, o: ProbeOptions = {}): Promise<ProbeResult[]> {
  const log = o.log ?? (() => undefined);
  const verdicts = new Map<number, { verdict: Verdict; evidence: string }>();
  const set = (n: number, verdict: Verdict, evidence: string) => verdicts.set(n, { verdict, evidence });
  const listShape = async (n: number, action: string, read: () => Promise<unknown>) => {
    log(`probe: ${action}`);
    try {
      const v = await read();
      set(n, "CONFIRMED", `${action} answered a list as expected (${Array.isArray(v) ? v.length : "?"} entries)`);
    } catch (e) {
      if (e instanceof UnexpectedShapeError) set(n, "REFUTED", `${action}: ${e.where}; the answer was ${e.shape}`);
      else if (e instanceof HostwindsError && !e.retryable) set(n, "REFUTED", `${action} was refused: ${e.detail}`);
      else throw e;
    }
  };

  log("probe: get_instances, get_price_list");
  const servers: Instance[] = await client.listInstances();
  const plans = await client.priceList();

  set(1, "UNKNOWN", `${REINSTALL_ACTION} rebuilds a server: not probed (it is not free of consequences)`);

  // 2. The IP purchase action, sent for no server: an unknown action or a refused id, nothing bought either way.
  const action = o.ipPurchaseAction ?? DEFAULT_IP_PURCHASE_ACTION;
  log(`probe: ${action} for service id 0 (refused before anything is bought)`);
  const buy = await raw(client, action, { serviceid: 0, qty: 1 });
  if (!buy.ok && /invalid action/i.test(buy.message)) set(2, "REFUTED", `${action}: "${buy.message}"`);
  else if (!buy.ok && buy.message === INVALID_SERVICE_ID) set(2, "CONFIRMED", `${action} exists: "${buy.message}" for service id 0`);
  else set(2, "UNKNOWN", buy.ok ? `${action} for service id 0 answered ${buy.shape}` : `${action}: "${buy.message}"`);

  const first = servers.find((s) => s.status === "ACTIVE") ?? servers[0];
  await probeRdns(client, first, set, log);
  set(4, "UNKNOWN", "only a purchase shows its answer");
  await listShape(5, "get_public_images", () => client.images());
  await listShape(6, LIST_SSH_KEYS_ACTION, () => client.sshKeys());
  await listShape(7, "get_locations", () => client.locations());

  // 8. product_id against the price list's ids.
  const products = servers.map((s) => s.product_id).filter((p): p is number => p !== undefined);
  if (!products.length) set(8, "UNKNOWN", "no server in the account reports a product_id");
  else {
    const known = products.filter((p) => plans.some((x) => x.id === p));
    set(
      8,
      known.length === products.length ? "CONFIRMED" : known.length === 0 ? "REFUTED" : "UNKNOWN",
      `${known.length} of ${products.length} servers' product_id are ids in the unmanaged price list`,
    );
  }
  set(9, "UNKNOWN", "how long Hostwinds holds an IP order shows only after a purchase");

  await probeNames(client, o, servers, set, log);
  set(11, "UNKNOWN", `${UPGRADE_ACTION} is billed: not probed`);

  await probeIpsList(client, first, set);

  return ASSUMPTIONS.map((a, i) => ({
    n: i + 1,
    what: a.what,
    ...(verdicts.get(i + 1) ?? { verdict: "UNKNOWN" as Verdict, evidence: "not probed" }),
  }));
}

/** Records one assumption's verdict and the evidence for it. */
type SetVerdict = (n: number, verdict: Verdict, evidence: string) => void;

/** 3. rDNS in get_instance_ips: the first server's list. */
async function probeRdns(
  client: HostwindsClient,
  first: Instance | undefined,
  set: SetVerdict,
  log: (line: string) => void,
): Promise<void> {
  if (!first) set(3, "UNKNOWN", "the account has no server to list IPs of");
  else {
    log(`probe: get_instance_ips of server ${first.serviceid}`);
    const r = await raw(client, "get_instance_ips", { serviceid: first.serviceid });
    if (!r.ok) set(3, "UNKNOWN", `get_instance_ips: "${r.message}"`);
    else {
      const text = JSON.stringify(r.data ?? null);
      set(3, /"rdns"\s*:/.test(text) ? "CONFIRMED" : "REFUTED", `get_instance_ips answered ${r.shape}`);
    }
  }
}

/** 10. Names: a rename of the operator's server to a mark-shaped name of the full length, then back (or the marks already there). */
async function probeNames(
  client: HostwindsClient,
  o: ProbeOptions,
  servers: Instance[],
  set: SetVerdict,
  log: (line: string) => void,
): Promise<void> {
  if (o.renameServiceId !== undefined) {
    const server = await client.getInstance(o.renameServiceId);
    if (!server) throw new Error(`probe --rename ${o.renameServiceId}: no such server for this key`);
    const original = server.srvrname;
    const sample = `pm-probe${Date.now().toString(36)}`.padEnd(MAX_SERVER_NAME, "0").slice(0, MAX_SERVER_NAME);
    log(`probe: edit_instance ${o.renameServiceId} to "${sample}", then back to "${original}"`);
    await client.renameInstance(o.renameServiceId, sample);
    try {
      const seen = (await client.getInstance(o.renameServiceId))?.srvrname ?? "";
      set(10, seen === sample ? "CONFIRMED" : "REFUTED", `edit_instance "${sample}" came back as "${seen}"`);
    } finally {
      await client.renameInstance(o.renameServiceId, original);
    }
  } else {
    const marked = servers.filter((s) => /^pm-[0-9a-z]{14}/.test(s.srvrname)).length;
    set(
      10,
      marked ? "CONFIRMED" : "UNKNOWN",
      marked ? `${marked} servers carry a mark as sent` : "no server carries a mark; run with --rename SERVICEID to check with a rename",
    );
  }
}

/** 12. The listing's `ips` against get_instance_ips of the same server. */
async function probeIpsList(client: HostwindsClient, first: Instance | undefined, set: SetVerdict): Promise<void> {
  if (!first) set(12, "UNKNOWN", "the account has no server to compare IPs of");
  else if (!first.ips) set(12, "REFUTED", "get_instances has no `ips` list of addresses for its servers");
  else {
    const listed = await client.listIps(first.serviceid).catch(() => undefined);
    const same =
      listed &&
      sameAddresses(
        first.ips,
        listed.map((x) => x.ip),
      );
    set(
      12,
      !listed ? "UNKNOWN" : same ? "CONFIRMED" : "REFUTED",
      !listed
        ? "get_instance_ips of the first server could not be read"
        : `get_instances' ips ${same ? "are" : "are not"} the addresses get_instance_ips lists (${listed.length} on the first server)`,
    );
  }
}

/** The table printed for the operator. */
export function renderProbe(results: ProbeResult[]): string {
  return results.map((r) => `${String(r.n).padStart(2)}  ${r.verdict.padEnd(9)}  ${r.what}\n             ${r.evidence}`).join("\n");
}
