/**
 * The implementation behind `cloudflare.DnsRecord` (loaded lazily by the
 * provider process). Create adopts an identical record already in the zone
 * (a run that stopped after creating it), so a record is never doubled;
 * read returns inputs so `pulumi refresh` shows records changed or deleted in
 * the dashboard; delete is idempotent.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkInputs, compact } from "../lib/dynamic";
import { CloudflareClient, CloudflareRecord, RecordBody, cloudflareSettings } from "./client";
import { OutcomeUnknownError } from "../lib/http";

export const dnsRecordInputsSchema = z.object({
  zone: z.string().min(1, "must name the zone, e.g. acme-mail.com"),
  type: z.enum(["A", "AAAA", "CNAME", "MX", "TXT", "SRV"], { error: () => "must be A, AAAA, CNAME, MX, TXT or SRV" }),
  name: z.string().min(1, "must be the record's full name"),
  content: z.string(),
  ttl: z.number().int().min(1).default(300),
  proxied: z.boolean().default(false),
  priority: z.number().int().min(0).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type DnsRecordInputs = z.infer<typeof dnsRecordInputsSchema>;
export interface DnsRecordOutputs extends DnsRecordInputs {
  recordId: string;
  zoneId: string;
}

let config: (key: string) => unknown = () => undefined;
let client: CloudflareClient | undefined;
const cf = () => (client ??= new CloudflareClient(cloudflareSettings(config)));

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
    comment: "managed by penguinmails-infra",
  }) as RecordBody;
const same = (r: CloudflareRecord, i: DnsRecordInputs) =>
  r.type === i.type && r.name === i.name.toLowerCase() && (i.type === "SRV" || r.content === i.content);

function outputs(i: DnsRecordInputs, r: CloudflareRecord, zoneId: string): DnsRecordOutputs {
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

export const provider: pulumi.dynamic.ResourceProvider<DnsRecordInputs, DnsRecordOutputs> = {
  async configure(req) {
    config = (key) => req.config.get(key);
    client = undefined;
  },
  async check(_olds, news) {
    const r = checkInputs(dnsRecordInputsSchema, label(news), news);
    if (r.inputs && r.inputs.proxied === true && r.inputs.type !== "CNAME") {
      return {
        failures: [{ property: "proxied", reason: `${label(news)}: mail records are never proxied (Cloudflare proxies only HTTP)` }],
      };
    }
    return r;
  },
  async diff(_id, olds, news) {
    const replaces = (["zone", "type"] as const).filter((k) => olds[k] !== news[k]);
    const changes =
      replaces.length > 0 ||
      (["name", "content", "ttl", "proxied", "priority"] as const).some((k) => olds[k] !== news[k]) ||
      JSON.stringify(olds.data ?? null) !== JSON.stringify(news.data ?? null);
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0 };
  },
  async create(inputs) {
    const zoneId = await cf().zoneId(inputs.zone);
    const existing = (await cf().list(zoneId, { type: inputs.type, name: inputs.name.toLowerCase() })).find((r) => same(r, inputs));
    if (existing) return { id: existing.id, outs: outputs(inputs, existing, zoneId) };
    try {
      const r = await cf().create(zoneId, body(inputs));
      return { id: r.id, outs: outputs(inputs, r, zoneId) };
    } catch (e) {
      if (e instanceof OutcomeUnknownError) {
        const made = (await cf().list(zoneId, { type: inputs.type, name: inputs.name.toLowerCase() })).find((r) => same(r, inputs));
        if (made) return { id: made.id, outs: outputs(inputs, made, zoneId) };
      }
      throw new Error(`${label(inputs)}: ${e instanceof Error ? e.message : e}`);
    }
  },
  async read(id, stored) {
    const props = stored as DnsRecordOutputs;
    const r = await cf().get(props.zoneId, id);
    if (!r) return { id: "" } as never;
    const inputs: DnsRecordInputs = compact({
      zone: props.zone,
      type: r.type as DnsRecordInputs["type"],
      name: r.name,
      content: props.type === "SRV" ? props.content : r.content,
      ttl: r.ttl,
      proxied: r.proxied ?? false,
      priority: r.priority ?? undefined,
      data: props.data,
    });
    return { id, props: outputs(inputs, r, props.zoneId), inputs: inputs as never };
  },
  async update(id, olds, news) {
    try {
      const r = await cf().update(olds.zoneId, id, body(news));
      return { outs: outputs(news, r, olds.zoneId) };
    } catch (e) {
      throw new Error(`${label(news)}: ${e instanceof Error ? e.message : e}`);
    }
  },
  async delete(id, props) {
    await cf().delete(props.zoneId, id);
  },
};
