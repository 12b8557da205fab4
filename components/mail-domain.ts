/**
 * MailDomain: the Cloudflare records of one sending domain (records from
 * mail-records.ts) and its DKIM key, whose private half is a secret. The set
 * of records is known when the program runs (names and types come from the
 * config); their contents follow the servers' IPs and the key once known.
 */
import * as pulumi from "@pulumi/pulumi";
import { DnsRecord } from "../providers/cloudflare";
import { claimOf } from "../providers/cloudflare/dns-record";
import { DkimKey } from "../providers/dkim";
import { DmarcPolicy, MailRecord, mailDomainRecords } from "./mail-records";

export interface MailDomainArgs {
  /** The Cloudflare zone the domain lives in. */
  zone: string;
  /** The zone of the host names' records (A and HELO SPF of `hosts`): the tenant's zone (default `zone`). */
  hostZone?: string;
  domain: string;
  /** The host MX points at. */
  mailHost: string;
  /** Host names with their addresses; A records are made for these. */
  hosts: Array<{ hostname: string; ip: pulumi.Input<string> }>;
  /** All IPs that send for the domain (SPF). */
  sendingIps: pulumi.Input<string>[];
  dkimSelector: string;
  dmarcPolicy: DmarcPolicy;
  /** The owner mark every record carries (providers/model/owner.ts): another owner's records are never touched. */
  owner: string;
}

/** Stand-in values, to lay out the record set before the real values are known. */
interface RecordInputs {
  hostIps: string[];
  sendingIps: string[];
  publicKeyBase64: string;
}
const layoutInputs = (hosts: number, sendingIps: number, variant: number): RecordInputs => ({
  hostIps: Array.from({ length: hosts }, (_, k) => `192.0.${2 + variant}.${k + 1}`),
  sendingIps: Array.from({ length: sendingIps }, (_, i) => `198.51.${100 + variant}.${i + 1}`),
  publicKeyBase64: variant ? "AQ==" : "AA==",
});

export class MailDomain extends pulumi.ComponentResource {
  readonly dkim: DkimKey;
  readonly records: pulumi.Output<MailRecord[]>;
  readonly dnsRecords: DnsRecord[];

  constructor(name: string, args: MailDomainArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailDomain", name, {}, opts);
    const build = (i: RecordInputs) =>
      mailDomainRecords({
        domain: args.domain,
        mailHost: args.mailHost,
        hosts: args.hosts.map((h, k) => ({ hostname: h.hostname, ip: i.hostIps[k] })),
        // A pending IP order has no address yet (""): SPF lists only addresses the stack holds.
        sendingIps: i.sendingIps.filter((ip) => ip !== ""),
        dkim: { selector: args.dkimSelector, publicKeyBase64: i.publicKeyBase64 },
        dmarcPolicy: args.dmarcPolicy,
      });
    // Laying the records out now also checks the domain, host names and DMARC policy before anything is made.
    const base = layoutInputs(args.hosts.length, args.sendingIps.length, 0);
    const other = layoutInputs(args.hosts.length, args.sendingIps.length, 1);
    const layout = build(base);
    this.dkim = new DkimKey(`${name}-dkim`, { domain: args.domain, selector: args.dkimSelector }, { parent: this });
    this.records = pulumi
      .all([pulumi.all(args.hosts.map((h) => h.ip)), pulumi.all(args.sendingIps), this.dkim.publicKeyBase64])
      .apply(([hostIps, sendingIps, publicKeyBase64]) => build({ hostIps, sendingIps, publicKeyBase64 }));

    // Each record's content waits only on what it reads (found by changing one input at a time in the
    // layout), so a preview that adds an IP shows SPF and the new A record changing, not every record.
    const readsHost = args.hosts.map((_, k) => build({ ...base, hostIps: base.hostIps.map((ip, j) => (j === k ? other.hostIps[k] : ip)) }));
    const readsSending = build({ ...base, sendingIps: other.sendingIps });
    const readsKey = build({ ...base, publicKeyBase64: other.publicKeyBase64 });
    const content = (i: number): pulumi.Output<string> => {
      const differs = (variant: MailRecord[]) => variant[i].content !== layout[i].content;
      return pulumi
        .all([
          pulumi.all(args.hosts.map((h, k) => (differs(readsHost[k]) ? pulumi.output(h.ip) : pulumi.output(base.hostIps[k])))),
          differs(readsSending) ? pulumi.all(args.sendingIps) : pulumi.output(base.sendingIps),
          differs(readsKey) ? this.dkim.publicKeyBase64 : pulumi.output(base.publicKeyBase64),
        ])
        .apply(([hostIps, sendingIps, publicKeyBase64]) => build({ hostIps, sendingIps, publicKeyBase64 })[i].content);
    };
    const hostNames = new Set(args.hosts.map((h) => h.hostname));
    this.dnsRecords = layout.map(
      (r, i) =>
        new DnsRecord(
          `${r.type.toLowerCase()}-${r.name}`,
          {
            zone: hostNames.has(r.name) && r.name !== args.domain ? (args.hostZone ?? args.zone) : args.zone,
            type: r.type,
            name: r.name,
            content: content(i),
            ttl: r.ttl,
            proxied: false,
            priority: r.priority,
            data: r.data as unknown as Record<string, number | string> | undefined,
            owner: args.owner,
            claim: claimOf(r.type, r.content),
          },
          { parent: this },
        ),
    );
    this.registerOutputs({ records: this.records });
  }
}
