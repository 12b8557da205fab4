/**
 * `cloudflare.DnsRecord`: one DNS record in a Cloudflare zone, through the
 * Cloudflare v4 API. It stands in for `@pulumi/cloudflare`'s DnsRecord while
 * that plugin cannot be built here (docs/status.md); inputs use the same
 * names (`zone` is the zone's name, resolved to its id). Credentials:
 * `cloudflare:apiToken` (secret) or CLOUDFLARE_API_TOKEN; endpoint:
 * `cloudflare:baseUrl` or CLOUDFLARE_BASE_URL. Every record carries its
 * owner's mark; another owner's records are never changed (dns-record.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../lib/dynamic-resource";

export { DNS_RECORD_TYPE } from "../model/resource-types";

export interface DnsRecordArgs {
  zone: pulumi.Input<string>;
  type: pulumi.Input<"A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV">;
  name: pulumi.Input<string>;
  content: pulumi.Input<string>;
  ttl?: pulumi.Input<number>;
  proxied?: pulumi.Input<boolean>;
  priority?: pulumi.Input<number>;
  data?: pulumi.Input<Record<string, pulumi.Input<string | number>>>;
  /** The owner mark (providers/model/owner.ts ownerMark), written as the record's comment. */
  owner: pulumi.Input<string>;
  /** What the record claims at its name (dns-record.ts claimOf), for ownership checks while content is unknown. */
  claim?: pulumi.Input<string>;
}

export class DnsRecord extends DynamicResource {
  declare readonly name: pulumi.Output<string>;
  declare readonly type: pulumi.Output<string>;
  declare readonly content: pulumi.Output<string>;
  declare readonly recordId: pulumi.Output<string>;
  constructor(name: string, args: DnsRecordArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "dist/providers/cloudflare/dns-record",
      name,
      { recordId: undefined, zoneId: undefined, ...args },
      opts,
      "cloudflare",
      "DnsRecord",
    );
  }
}
