/**
 * MailDomain: the Cloudflare records of one sending domain (records from
 * mail-records.ts) and its DKIM key, whose private half is a secret. The set
 * of records is known when the program runs (names and types come from the
 * config); their contents follow the servers' IPs and the key once known.
 */
import * as pulumi from "@pulumi/pulumi";
import { DnsRecord } from "../providers/cloudflare";
import { DkimKey } from "../providers/dkim";
import { DmarcPolicy, MailRecord, mailDomainRecords } from "./mail-records";

export interface MailDomainArgs {
  /** The Cloudflare zone the domain lives in. */
  zone: string;
  domain: string;
  /** The host MX points at. */
  mailHost: string;
  /** Host names with their addresses; A records are made for these. */
  hosts: Array<{ hostname: string; ip: pulumi.Input<string> }>;
  /** All IPs that send for the domain (SPF). */
  sendingIps: pulumi.Input<string>[];
  dkimSelector: string;
  dmarcPolicy: DmarcPolicy;
}

/** A placeholder address, only to lay out the record set before the real IPs are known. */
const LAYOUT_IP = "192.0.2.1";

export class MailDomain extends pulumi.ComponentResource {
  readonly dkim: DkimKey;
  readonly records: pulumi.Output<MailRecord[]>;
  readonly dnsRecords: DnsRecord[];

  constructor(name: string, args: MailDomainArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailDomain", name, {}, opts);
    // Laying the records out now also checks the domain, host names and DMARC policy before anything is made.
    const layout = mailDomainRecords({
      domain: args.domain, mailHost: args.mailHost, hosts: args.hosts.map((h) => ({ hostname: h.hostname, ip: LAYOUT_IP })),
      sendingIps: args.sendingIps.map(() => LAYOUT_IP), dkim: { selector: args.dkimSelector, publicKeyBase64: "AA==" }, dmarcPolicy: args.dmarcPolicy,
    });
    this.dkim = new DkimKey(`${name}-dkim`, { domain: args.domain, selector: args.dkimSelector }, { parent: this });
    this.records = pulumi.all([pulumi.all(args.hosts.map((h) => h.ip)), pulumi.all(args.sendingIps), this.dkim.publicKeyBase64])
      .apply(([hostIps, ips, pub]) => mailDomainRecords({
        domain: args.domain, mailHost: args.mailHost, hosts: args.hosts.map((h, i) => ({ hostname: h.hostname, ip: hostIps[i] })),
        sendingIps: ips, dkim: { selector: args.dkimSelector, publicKeyBase64: pub }, dmarcPolicy: args.dmarcPolicy,
      }));
    this.dnsRecords = layout.map((r, i) => new DnsRecord(`${r.type.toLowerCase()}-${r.name}`, {
      zone: args.zone, type: r.type, name: r.name, content: this.records.apply((rs) => rs[i].content), ttl: r.ttl, proxied: false,
      priority: r.priority, data: r.data as unknown as Record<string, number | string> | undefined,
    }, { parent: this }));
    this.registerOutputs({ records: this.records });
  }
}
