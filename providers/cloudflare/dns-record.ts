/**
 * The implementation behind `cloudflare.DnsRecord` (loaded lazily by the provider process).
 *
 * Who owns a record: every record this project creates carries its owner's mark
 * (providers/model/owner.ts: backend fingerprint, project, stack, tenant) as its Cloudflare
 * `comment`, a field of the DNS record object in Cloudflare's v4 API (Create/Update DNS Record
 * bodies; cloudflare-typescript `src/resources/dns/records.ts` `comment`; "Record attributes",
 * developers.cloudflare.com/dns/manage-dns-records/reference/record-attributes: any graphic
 * characters, no newline; only for full and partial zones). Tags were not used: they are
 * `name:value` pairs whose availability depends on the plan, and a comment carries the whole mark.
 *
 * Rules that follow:
 * - a record's claim is its name and its kind (an address: A/AAAA/CNAME; MX; SRV; a TXT by its
 *   `v=` tag: SPF, DKIM, DMARC, MTA-STS, TLS-RPT; any other TXT only by identical content);
 * - `check` (preview and up) refuses a record whose claim is held by a record that is not this
 *   stack's (another owner's mark, an unmarked record, one made by hand), naming the owner: a
 *   second SPF or DKIM key at one selector is never made, another tenant's A records never moved;
 * - create adopts only a record carrying this stack's own mark (a run killed after creating it);
 * - update, delete and refresh never change or delete a record carrying another owner's mark;
 * - records created before marks existed (comment "managed by penguinmails-infra", or none) are
 *   this stack's when its state holds them: they are marked on the next update (the `owner`
 *   input is new, so the first `up` after the upgrade updates every record in place).
 *
 * An address record whose content is "" (an IP order still pending) is not published: it waits,
 * with no record in Cloudflare, and is created by the update that brings the address.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkInputs, compact, isUnknown } from "../lib/dynamic";
import { CloudflareClient, CloudflareRecord, RecordBody, cloudflareSettings } from "./client";
import { OutcomeUnknownError } from "../lib/http";
import { backendUrl, describeComment, parseOwnerMark } from "../model/owner";
import { stackLeases } from "../lib/lease";

/** Cloudflare's comment limit on the smallest plans [assumed: the per-plan figures are in a feature table not found in public text]. */
export const COMMENT_MAX = 100;

export const dnsRecordInputsSchema = z.object({
  zone: z.string().min(1, "must name the zone, e.g. acme-mail.com"),
  type: z.enum(["A", "AAAA", "CNAME", "MX", "TXT", "SRV"], { error: () => "must be A, AAAA, CNAME, MX, TXT or SRV" }),
  name: z.string().min(1, "must be the record's full name"),
  content: z.string(),
  ttl: z.number().int().min(1).default(300),
  proxied: z.boolean().default(false),
  priority: z.number().int().min(0).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  /** The owner mark (providers/model/owner.ts), written as the record's comment. */
  owner: z
    .string({
      error: (i) => (i.input === undefined ? "is required (the owner mark naming backend, project, stack and tenant)" : undefined),
    })
    .max(COMMENT_MAX, `must be at most ${COMMENT_MAX} characters (Cloudflare's record comment); use a shorter stack or project name`)
    .refine((s) => parseOwnerMark(s) !== undefined, "must be an owner mark (providers/model/owner.ts)"),
  /** The record's claim when its content is not known yet (preview): see claimOf. */
  claim: z.string().optional(),
});
export type DnsRecordInputs = z.infer<typeof dnsRecordInputsSchema>;
export interface DnsRecordOutputs extends DnsRecordInputs {
  /** "" while an address record waits for its address. */
  recordId: string;
  zoneId: string;
}

let config: (key: string) => unknown = () => undefined;
let client: CloudflareClient | undefined;
const cf = () => (client ??= new CloudflareClient(cloudflareSettings(config)));
/** Each zone's records, listed once per process for the ownership checks of a preview or up. */
const zoneLists = new Map<string, Promise<CloudflareRecord[]>>();

const label = (i: Partial<DnsRecordInputs>) => `cloudflare.DnsRecord ${i.type ?? ""} ${i.name ?? ""}`.trim();
const body = (i: DnsRecordInputs): RecordBody =>
  compact({
    type: i.type,
    name: i.name,
    content: i.content,
    ttl: i.ttl,
    proxied: i.proxied,
    priority: i.priority,
    data: i.data,
    comment: i.owner,
  }) as RecordBody;

/**
 * What a record claims at its name: two records with the same name and claim cannot both stand
 * (one SPF, one DMARC policy, one key per DKIM selector, one address per host name, one MX set).
 */
export function claimOf(type: string, content: string): string {
  if (type === "A" || type === "AAAA" || type === "CNAME") return "address";
  if (type === "TXT") {
    const tag = /^"?v=([A-Za-z0-9]+)/.exec(content);
    return tag ? `txt:${tag[1].toLowerCase()}` : `txt=${content}`;
  }
  return type.toLowerCase();
}
const claimOfInputs = (i: DnsRecordInputs): string | undefined =>
  isUnknown(i.content) ? (i.claim && !isUnknown(i.claim) ? i.claim : undefined) : (i.claim ?? claimOf(i.type, i.content));

/** Records at the name with the same claim that are not this owner's (except `ownId`, the record this stack's state holds). */
function rivals(records: CloudflareRecord[], i: DnsRecordInputs, ownId?: string): CloudflareRecord[] {
  const claim = claimOfInputs(i);
  const name = i.name.toLowerCase();
  return records.filter(
    (r) => r.name === name && r.id !== ownId && (claim === undefined || claimOf(r.type, r.content) === claim) && r.comment !== i.owner,
  );
}
const commentOf = (r: CloudflareRecord): string | undefined => (typeof r.comment === "string" ? r.comment : undefined);
/** A record carrying a mark that names another owner: never changed or deleted by this stack. */
const foreignMark = (r: CloudflareRecord, owner: string | undefined) => {
  const c = commentOf(r);
  return parseOwnerMark(c) !== undefined && c !== owner;
};
const refusal = (i: DnsRecordInputs, held: CloudflareRecord[]) =>
  `${label(i)}: zone ${i.zone} already has ${held
    .map((r) => `${r.type} ${r.name} "${r.content.slice(0, 60)}" owned by ${describeComment(commentOf(r))}`)
    .join("; ")}. ` +
  "A record of another owner is never changed, doubled or deleted: use a zone, selector or host names of this tenant's own, " +
  "or remove the other record in Cloudflare if it is not in use. Nothing was created.";

function outputs(i: DnsRecordInputs, r: CloudflareRecord | undefined, zoneId: string): DnsRecordOutputs {
  if (!r) return compact({ ...i, recordId: "", zoneId });
  return compact({
    ...i,
    name: r.name,
    content: i.type === "SRV" ? i.content : r.content,
    ttl: r.ttl,
    priority: r.priority ?? undefined,
    recordId: r.id,
    zoneId,
  });
}

/** Why this record may not be made or kept (another owner's record holds its claim), or undefined. */
async function ownership(i: DnsRecordInputs, ownId: string | undefined): Promise<string | undefined> {
  let list = zoneLists.get(i.zone);
  if (!list) {
    list = cf()
      .zoneId(i.zone)
      .then((id) => cf().listAll(id));
    list.catch(() => zoneLists.delete(i.zone));
    zoneLists.set(i.zone, list);
  }
  const held = rivals(await list, i, ownId);
  return held.length ? refusal(i, held) : undefined;
}

const waits = (i: DnsRecordInputs) => (i.type === "A" || i.type === "AAAA") && i.content === "";

/**
 * The stack's writer lease (providers/lib/lease.ts), before a record is created, changed or
 * deleted: two engines on one stack (after `pulumi cancel`) would both create the same record.
 */
async function oneWriter(i: Pick<DnsRecordInputs, "owner">, doing: string): Promise<void> {
  const o = parseOwnerMark(i.owner);
  if (o) await stackLeases(backendUrl).acquire(o.project, o.stack, doing, (l) => console.log(l));
}

async function publish(i: DnsRecordInputs, zoneId: string): Promise<CloudflareRecord> {
  await oneWriter(i, `create ${label(i)}`);
  const here = await cf().list(zoneId, { name: i.name.toLowerCase() });
  const held = rivals(here, i);
  if (held.length) throw new Error(refusal(i, held));
  // A record with this stack's own mark: made by a run that stopped before saving it.
  const claim = claimOfInputs(i);
  const mine = here.find((r) => r.comment === i.owner && r.type === i.type && claimOf(r.type, r.content) === claim);
  if (mine) return mine.content === i.content || i.type === "SRV" ? mine : cf().update(zoneId, mine.id, body(i));
  try {
    return await cf().create(zoneId, body(i));
  } catch (e) {
    if (e instanceof OutcomeUnknownError) {
      const made = (await cf().list(zoneId, { type: i.type, name: i.name.toLowerCase() })).find((r) => r.comment === i.owner);
      if (made) return made;
    }
    throw new Error(`${label(i)}: ${e instanceof Error ? e.message : e}`);
  }
}

export const provider: pulumi.dynamic.ResourceProvider<DnsRecordInputs, DnsRecordOutputs> = {
  async configure(req) {
    config = (key) => req.config.get(key);
    client = undefined;
    zoneLists.clear();
  },
  async check(olds, news) {
    const r = checkInputs(dnsRecordInputsSchema, label(news), news);
    if (!r.inputs) return r;
    const i = r.inputs;
    if (i.proxied === true && i.type !== "CNAME") {
      return {
        failures: [{ property: "proxied", reason: `${label(news)}: mail records are never proxied (Cloudflare proxies only HTTP)` }],
      };
    }
    if (i.content === "" && !waits(i)) return { failures: [{ property: "content", reason: `${label(news)}: content is empty` }] };
    if ([i.zone, i.name, i.type, i.owner].some(isUnknown)) return r;
    // A record already in this stack's state is judged by diff, which knows its record id (the
    // engine gives check the old inputs only); a new one here.
    const old = (olds ?? {}) as Partial<DnsRecordOutputs>;
    if (old.zone !== undefined && !old.recordId) return r;
    try {
      const problem = await ownership(i, old.recordId || undefined);
      if (problem) return { failures: [{ property: "name", reason: problem }] };
    } catch (e) {
      return { failures: [{ property: "zone", reason: `${label(i)}: ${e instanceof Error ? e.message : e}` }] };
    }
    return r;
  },
  async diff(_id, olds, news) {
    // Ownership of a record in state, in preview: another owner's record at its claim stops the run.
    if (![news.zone, news.name, news.type, news.owner].some(isUnknown)) {
      const problem = await ownership(news, olds.recordId || undefined);
      if (problem) throw new Error(problem);
    }
    const replaces = (["zone", "type"] as const).filter((k) => olds[k] !== news[k]);
    const changes =
      replaces.length > 0 ||
      (["name", "content", "ttl", "proxied", "priority", "owner"] as const).some((k) => olds[k] !== news[k]) ||
      JSON.stringify(olds.data ?? null) !== JSON.stringify(news.data ?? null);
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0 };
  },
  async create(inputs) {
    const zoneId = await cf().zoneId(inputs.zone);
    if (waits(inputs)) return { id: `waiting:${inputs.type}:${inputs.name.toLowerCase()}`, outs: outputs(inputs, undefined, zoneId) };
    const r = await publish(inputs, zoneId);
    return { id: r.id, outs: outputs(inputs, r, zoneId) };
  },
  async read(id, stored) {
    const props = stored as DnsRecordOutputs;
    if (!props.recordId) return { id, props, inputs: inputsOf(props) as never };
    const r = await cf().get(props.zoneId, props.recordId);
    if (!r) return { id: "" } as never;
    if (foreignMark(r, props.owner)) {
      console.log(
        `${label(props)}: record ${r.id} now carries the mark of ${describeComment(commentOf(r))}; it leaves this stack's state untouched`,
      );
      return { id: "" } as never;
    }
    const inputs: DnsRecordInputs = compact({
      zone: props.zone,
      type: r.type as DnsRecordInputs["type"],
      name: r.name,
      content: props.type === "SRV" ? props.content : r.content,
      ttl: r.ttl,
      proxied: r.proxied ?? false,
      priority: r.priority ?? undefined,
      data: props.data,
      // An unmarked record (made before marks) reads as unmarked: the next up marks it.
      owner: commentOf(r) === props.owner ? props.owner : (undefined as unknown as string),
      claim: props.claim,
    });
    return { id, props: outputs(inputs, r, props.zoneId), inputs: inputs as never };
  },
  async update(id, olds, news) {
    const zoneId = olds.zoneId;
    try {
      if (!olds.recordId) {
        // A waiting address record gets its address (or keeps waiting).
        if (waits(news)) return { outs: outputs(news, undefined, zoneId) };
        return { outs: outputs(news, await publish(news, zoneId), zoneId) };
      }
      await oneWriter(news, `change ${label(news)}`);
      const live = await cf().get(zoneId, olds.recordId);
      if (live && foreignMark(live, news.owner))
        throw new Error(
          `record ${live.id} now carries the mark of ${describeComment(commentOf(live))}; it is not changed. Run \`pulumi refresh\` to let it go from this stack's state.`,
        );
      if (waits(news)) {
        if (live) await cf().delete(zoneId, live.id);
        return { outs: outputs(news, undefined, zoneId) };
      }
      if (!live) return { outs: outputs(news, await publish(news, zoneId), zoneId) };
      const r = await cf().update(zoneId, live.id, body(news));
      return { outs: outputs(news, r, zoneId) };
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      throw new Error(m.startsWith(label(news)) ? m : `${label(news)}: ${m}`);
    }
  },
  async delete(id, props) {
    if (!props.recordId) return;
    await oneWriter(props, `delete ${label(props)}`);
    const live = await cf().get(props.zoneId, props.recordId);
    if (!live) return;
    if (foreignMark(live, props.owner)) {
      console.log(`${label(props)}: record ${live.id} carries the mark of ${describeComment(commentOf(live))}; not deleting it`);
      return;
    }
    await cf().delete(props.zoneId, live.id);
  },
};

function inputsOf(p: DnsRecordOutputs): DnsRecordInputs {
  const { recordId: _r, zoneId: _z, ...i } = p;
  return i;
}
