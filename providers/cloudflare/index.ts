/**
 * `cloudflare.DnsRecord`: one DNS record in a Cloudflare zone, through the
 * Cloudflare v4 API. It stands in for `@pulumi/cloudflare`'s DnsRecord while
 * that plugin cannot be built here (docs/status.md); inputs use the same
 * names (`zone` is the zone's name, resolved to its id). Credentials:
 * `cloudflare:apiToken` (secret) or CLOUDFLARE_API_TOKEN; endpoint:
 * `cloudflare:baseUrl` or CLOUDFLARE_BASE_URL.
 */
import * as pulumi from "@pulumi/pulumi";
import { lazyProvider } from "../lib/lazy-provider";

export const DNS_RECORD_TYPE = "pulumi-nodejs:dynamic/cloudflare:DnsRecord";

export interface DnsRecordArgs {
  zone: pulumi.Input<string>;
  type: pulumi.Input<"A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV">;
  name: pulumi.Input<string>;
  content: pulumi.Input<string>;
  ttl?: pulumi.Input<number>;
  proxied?: pulumi.Input<boolean>;
  priority?: pulumi.Input<number>;
  data?: pulumi.Input<Record<string, pulumi.Input<string | number>>>;
}

export class DnsRecord extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly type: pulumi.Output<string>;
  declare readonly content: pulumi.Output<string>;
  declare readonly recordId: pulumi.Output<string>;
  constructor(name: string, args: DnsRecordArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      lazyProvider("dist/providers/cloudflare/dns-record"),
      name,
      { recordId: undefined, zoneId: undefined, ...args },
      opts,
      "cloudflare",
      "DnsRecord",
    );
  }
}
