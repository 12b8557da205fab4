/**
 * A local stand-in for the Cloudflare v4 DNS API, the endpoints a DNS record
 * resource uses: zones by name, and create / read / update / delete / list of
 * DNS records, in Cloudflare's `{"success","errors","messages","result"}`
 * envelope. Tokens are checked (Bearer) and scoped to zones; malformed records
 * get errors shaped like the real API's. Faults: 429 with Retry-After, 5xx.
 *
 * Lists are paginated (`page`, `per_page`, `result_info` with `total_pages`):
 * zones at most 50 a page (default 20), records default 100 (maximum 5,000,000 in
 * Cloudflare's OpenAPI schema `dns-records_per_page`); sources: Cloudflare API
 * reference "List Zones" / "List DNS Records".
 *
 * The rate limit is Cloudflare's documented one (developers.cloudflare.com/fundamentals/api/reference/limits,
 * "Rate limits"): 1,200 requests per five minutes per user/account token; past it "all API
 * calls for the next five minutes will be blocked, receiving a HTTP 429 response", with
 * `retry-after` (seconds until capacity). Counted per token here; the window and the block
 * are options so tests can use small numbers.
 */
import { randomBytes } from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

export interface SimDnsRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
  priority?: number;
  data?: Record<string, unknown>;
  /** Record attributes ("Record attributes" in Cloudflare's DNS docs; `comment`/`tags` in the DNS record object): null when unset. */
  comment: string | null;
  tags: string[];
  created_on: string;
  modified_on: string;
}
interface Zone {
  id: string;
  name: string;
  records: SimDnsRecord[];
}

export interface CloudflareSimOptions {
  port?: number;
  /** API tokens and the zone names each may manage. */
  tokens?: Record<string, string[]>;
  /** Requests per window per token (default 1200; 0 = no limit). */
  rateLimit?: number;
  /** The window (default 5 minutes). */
  rateWindowMs?: number;
  /** How long every call is refused once the limit is passed (default 5 minutes). */
  blockMs?: number;
  /** Longest record comment accepted (default 100 [assumed], see validate). */
  commentMax?: number;
}

/** Cloudflare's documented client API limit (see the header). */
export const CLOUDFLARE_RATE_LIMIT = { requests: 1200, windowMs: 5 * 60_000, blockMs: 5 * 60_000 };

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const HOST = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** The two name servers the stand-in assigns a zone, shaped as Cloudflare's ("<name>.ns.cloudflare.com"), fixed by its id. */
export function nameServersOf(zoneId: string): string[] {
  const names = ["ada", "bob", "kai", "lola", "noah", "rita", "sam", "vera"];
  const n = parseInt(zoneId.slice(0, 4), 16) || 0;
  return [`${names[n % 8]}.ns.cloudflare.com`, `${names[(n + 1 + ((n >> 3) % 7)) % 8]}.ns.cloudflare.com`];
}

export class CloudflareSim {
  private server?: http.Server;
  private readonly zones = new Map<string, Zone>();
  readonly tokens: Record<string, string[]>;
  faults: { http429?: number; http5xx?: number } = {};
  /** Requests received by "METHOD path-shape", for tests and benchmarks. */
  readonly requests = new Map<string, number>();
  /** Requests refused by the rate limit (429), per token. */
  readonly refused = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  private readonly blockedUntil = new Map<string, number>();
  private readonly limit: { requests: number; windowMs: number; blockMs: number };

  constructor(o: CloudflareSimOptions = {}) {
    this.tokens = o.tokens ?? { "sim-cf-token-0123456789": ["*"] };
    this.port = o.port ?? 0;
    this.commentMax = o.commentMax ?? 100;
    this.limit = {
      requests: o.rateLimit ?? CLOUDFLARE_RATE_LIMIT.requests,
      windowMs: o.rateWindowMs ?? CLOUDFLARE_RATE_LIMIT.windowMs,
      blockMs: o.blockMs ?? CLOUDFLARE_RATE_LIMIT.blockMs,
    };
  }
  private readonly port: number;
  private readonly commentMax: number;

  /** Creates a zone (as if added in the dashboard) and returns its id. */
  addZone(name: string): string {
    const existing = [...this.zones.values()].find((z) => z.name === name);
    if (existing) return existing.id;
    const id = randomBytes(16).toString("hex");
    this.zones.set(id, { id, name, records: [] });
    return id;
  }

  /** A zone's id by its name (tests). */
  zoneIdOf(name: string): string {
    return [...this.zones.values()].find((z) => z.name === name)?.id ?? "";
  }

  /** Every record of every zone (the DNS stand-in serves them). */
  allRecords(): SimDnsRecord[] {
    return [...this.zones.values()].flatMap((z) => z.records);
  }

  records(zoneName: string): SimDnsRecord[] {
    return [...this.zones.values()].find((z) => z.name === zoneName)?.records ?? [];
  }

  /** Stack config that points DNS records at this stand-in (token as a secret). */
  stackConfig(token: string): Record<string, { value: string; secret?: boolean }> {
    return { "cloudflare:apiToken": { value: token, secret: true }, "cloudflare:baseUrl": { value: this.url } };
  }

  /** Empties a zone (tests start each case from a clean zone). */
  deleteZoneRecords(zoneName: string): void {
    const z = [...this.zones.values()].find((x) => x.name === zoneName);
    if (z) z.records = [];
  }

  /** Deletes a record as if someone did it in the dashboard. */
  deleteByHand(zoneName: string, name: string, type: string): void {
    const z = [...this.zones.values()].find((x) => x.name === zoneName);
    if (z) z.records = z.records.filter((r) => !(r.name === name && r.type === type));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/client/v4`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  // eslint-disable-next-line max-lines-per-function -- a stand-in's request dispatcher: one route per branch, read as the API's table of routes
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? "/", "http://sim");
    const method = req.method ?? "GET";
    const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify({ success: status < 400, errors: [], messages: [], result: null, ...body }));
    };
    const fail = (status: number, code: number, message: string) => send(status, { success: false, errors: [{ code, message }] });
    const shape = `${method} ${url.pathname.replace(/[0-9a-f]{32}/g, ":id")}`;
    this.requests.set(shape, (this.requests.get(shape) ?? 0) + 1);

    if (this.faults.http429 && this.faults.http429 > 0) {
      this.faults.http429--;
      return send(
        429,
        { success: false, errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }] },
        { "retry-after": "1" },
      );
    }
    if (this.faults.http5xx && this.faults.http5xx > 0) {
      this.faults.http5xx--;
      return fail(502, 502, "Bad gateway");
    }
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const scope = this.tokens[token];
    if (!scope) return fail(403, 10000, "Authentication error");
    const wait = this.overLimit(token);
    if (wait > 0) {
      this.refused.set(token, (this.refused.get(token) ?? 0) + 1);
      return send(
        429,
        { success: false, errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }] },
        { "retry-after": String(Math.ceil(wait / 1000)) },
      );
    }
    const allowed = this.scopeOf(scope);
    const may = (z: Zone) => allowed === "*" || allowed.has(z.name);

    const parts = url.pathname
      .replace(/^\/client\/v4\/?/, "")
      .split("/")
      .filter(Boolean);
    if (parts[0] !== "zones") return fail(404, 7003, "Could not route to " + url.pathname + ", perhaps your object identifier is invalid?");
    if (parts.length === 1 && method === "GET") {
      const name = url.searchParams.get("name");
      const list = [...this.zones.values()]
        .filter((z) => may(z) && (!name || z.name === name))
        // `name_servers`: the two name servers Cloudflare assigns the zone (List Zones reference, Zone object).
        .map((z) => ({ id: z.id, name: z.name, status: "active", name_servers: nameServersOf(z.id) }));
      return send(200, this.page(list, url, 20, 50));
    }
    const zone = this.zones.get(parts[1]);
    if (!zone || !may(zone))
      return fail(
        zone ? 403 : 404,
        zone ? 9109 : 7003,
        zone ? "Unauthorized to access requested resource" : "Could not route to zone, perhaps your object identifier is invalid?",
      );
    if (parts[2] !== "dns_records") return fail(404, 7003, "Could not route to " + url.pathname);

    let body: Record<string, unknown> = {};
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return fail(400, 9207, "Request body is invalid.");
      }
    }
    const recordId = parts[3];
    if (!recordId) {
      if (method === "GET") {
        const type = url.searchParams.get("type");
        const name = url.searchParams.get("name");
        const list = zone.records.filter((r) => (!type || r.type === type) && (!name || r.name === name));
        return send(200, this.page(list, url, 100, 5_000_000));
      }
      if (method === "POST") {
        const problem = this.validate(zone, body, undefined);
        if (problem) return fail(400, problem.code, problem.message);
        const now = new Date().toISOString();
        const rec: SimDnsRecord = {
          id: randomBytes(16).toString("hex"),
          zone_id: zone.id,
          zone_name: zone.name,
          type: String(body.type),
          name: String(body.name).toLowerCase(),
          content: this.contentOf(body),
          ttl: Number(body.ttl ?? 1),
          proxied: Boolean(body.proxied),
          priority: body.priority as number | undefined,
          data: body.data as Record<string, unknown> | undefined,
          comment: typeof body.comment === "string" && body.comment ? body.comment : null,
          tags: Array.isArray(body.tags) ? (body.tags as string[]) : [],
          created_on: now,
          modified_on: now,
        };
        zone.records.push(rec);
        return send(200, { result: rec });
      }
      return fail(405, 10000, "Method not allowed");
    }
    const rec = zone.records.find((r) => r.id === recordId);
    if (!rec) return fail(404, 81044, "Record does not exist.");
    if (method === "GET") return send(200, { result: rec });
    if (method === "DELETE") {
      zone.records = zone.records.filter((r) => r !== rec);
      return send(200, { result: { id: rec.id } });
    }
    if (method === "PUT" || method === "PATCH") {
      const merged = method === "PATCH" ? { ...rec, ...body } : body;
      const problem = this.validate(zone, merged, rec.id);
      if (problem) return fail(400, problem.code, problem.message);
      Object.assign(rec, {
        type: String(merged.type),
        name: String(merged.name).toLowerCase(),
        content: this.contentOf(merged),
        ttl: Number(merged.ttl ?? 1),
        proxied: Boolean(merged.proxied),
        priority: merged.priority,
        data: merged.data,
        // PUT overwrites the record: attributes not sent are cleared (Cloudflare's "Overwrite DNS Record").
        comment: typeof merged.comment === "string" && merged.comment ? merged.comment : null,
        tags: Array.isArray(merged.tags) ? (merged.tags as string[]) : [],
        modified_on: new Date().toISOString(),
      });
      return send(200, { result: rec });
    }
    return fail(405, 10000, "Method not allowed");
  }

  /** One page of a list, as Cloudflare pages them (`page` from 1, `per_page` capped at the endpoint's maximum). */
  private page<T>(list: T[], url: URL, dflt: number, max: number): Record<string, unknown> {
    const perPage = Math.min(max, Math.max(1, Number(url.searchParams.get("per_page") ?? dflt) || dflt));
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
    const result = list.slice((page - 1) * perPage, page * perPage);
    return {
      result,
      result_info: {
        page,
        per_page: perPage,
        count: result.length,
        total_count: list.length,
        total_pages: Math.ceil(list.length / perPage),
      },
    };
  }

  private readonly scopes = new WeakMap<string[], Set<string>>();
  /** A token's zones as a set (benchmarks give tokens thousands of zones). */
  private scopeOf(scope: string[]): "*" | Set<string> {
    if (scope.includes("*")) return "*";
    let s = this.scopes.get(scope);
    if (!s || s.size !== scope.length) this.scopes.set(scope, (s = new Set(scope)));
    return s;
  }

  /** 0 when the token may call now; else ms until it may (a token past its limit is blocked for blockMs). */
  private overLimit(token: string): number {
    if (!this.limit.requests) return 0;
    const now = Date.now();
    const blocked = this.blockedUntil.get(token) ?? 0;
    if (blocked > now) return blocked - now;
    const recent = (this.recent.get(token) ?? []).filter((t) => t > now - this.limit.windowMs);
    if (recent.length >= this.limit.requests) {
      this.blockedUntil.set(token, now + this.limit.blockMs);
      this.recent.set(token, []);
      return this.limit.blockMs;
    }
    recent.push(now);
    this.recent.set(token, recent);
    return 0;
  }

  /** Requests of `token` the rate limit counts now (its window), or Infinity while the token is blocked: tests wait for 0. */
  rateWindow(token: string): number {
    const now = Date.now();
    if ((this.blockedUntil.get(token) ?? 0) > now) return Infinity;
    return (this.recent.get(token) ?? []).filter((t) => t > now - this.limit.windowMs).length;
  }

  /** Puts records into a zone as if they had been made earlier (benchmarks seed a fleet with them). */
  seedRecords(
    zoneName: string,
    records: Array<
      Omit<SimDnsRecord, "zone_id" | "zone_name" | "created_on" | "modified_on" | "comment" | "tags"> &
        Partial<Pick<SimDnsRecord, "comment" | "tags">>
    >,
  ): string {
    const id = this.addZone(zoneName);
    const z = this.zones.get(id)!;
    const now = new Date().toISOString();
    for (const r of records)
      z.records.push({ comment: null, tags: [], ...r, zone_id: id, zone_name: zoneName, created_on: now, modified_on: now });
    return id;
  }

  /** Adds a zone with a given id (benchmarks clone a fleet whose checkpoints name the zone ids). */
  addZoneWithId(name: string, id: string): string {
    if (!this.zones.has(id)) this.zones.set(id, { id, name, records: [] });
    return id;
  }

  private contentOf(b: Record<string, unknown>): string {
    if (b.type === "SRV" && b.data && typeof b.data === "object") {
      const d = b.data as { priority?: number; weight?: number; port?: number; target?: string };
      return `${d.weight ?? 0} ${d.port ?? 0} ${d.target ?? ""}`;
    }
    return String(b.content ?? "");
  }

  /** Errors shaped like Cloudflare's for malformed records (codes as the API returns them). */
  private validate(zone: Zone, b: Record<string, unknown>, selfId: string | undefined): { code: number; message: string } | undefined {
    const type = String(b.type ?? "");
    const name = String(b.name ?? "").toLowerCase();
    if (!["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS"].includes(type)) return { code: 9000, message: "DNS Validation Error" };
    if (!name || (name !== zone.name && !name.endsWith(`.${zone.name}`)))
      return { code: 9007, message: `Content for ${type} record is invalid. The name must be within the zone ${zone.name}.` };
    const content = String(b.content ?? "");
    if (type === "A" && !IPV4.test(content)) return { code: 9005, message: "Content for A record must be a valid IPv4 address." };
    if ((type === "CNAME" || type === "MX") && !HOST.test(content))
      return { code: 9007, message: `Content for ${type} record is invalid.` };
    if (type === "MX" && (b.priority === undefined || b.priority === null))
      return { code: 9100, message: "Priority is required for MX records." };
    if (type === "TXT" && content.length > 2048) return { code: 9100, message: "Content for TXT record is invalid: too long." };
    if (type === "SRV") {
      const d = b.data as { port?: unknown; target?: unknown } | undefined;
      if (!d || typeof d.port !== "number" || typeof d.target !== "string")
        return { code: 9101, message: "SRV record data is invalid: port and target are required." };
    }
    if (b.proxied && !["A", "AAAA", "CNAME"].includes(type)) return { code: 9004, message: `This record type cannot be proxied.` };
    // Comments: graphic characters, no newline or carriage return ("Record attributes"); the length
    // limit per plan is [assumed] 100 here, the smallest plans' (providers/cloudflare/dns-record.ts COMMENT_MAX).
    if (b.comment !== undefined && b.comment !== null) {
      if (typeof b.comment !== "string" || /[\r\n]/.test(b.comment)) return { code: 9100, message: "DNS record comment is invalid." };
      if (b.comment.length > this.commentMax)
        return {
          code: 9100,
          message: `DNS record has ${b.comment.length} characters in its comment, exceeding the limit of ${this.commentMax}.`,
        };
    }
    // Tags: `name:value`, names of letters, digits, - and _ ("Record attributes").
    if (b.tags !== undefined && (!Array.isArray(b.tags) || b.tags.some((t) => typeof t !== "string" || !/^[A-Za-z0-9_-]+:/.test(t))))
      return { code: 9100, message: "DNS record tags are invalid." };
    const others = zone.records.filter((r) => r.name === name && r.id !== selfId);
    if (type === "CNAME" && others.length) return { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." };
    if (others.some((r) => r.type === "CNAME")) return { code: 81054, message: "A CNAME record with that host already exists." };
    if (others.some((r) => r.type === type && r.content === this.contentOf(b)))
      return { code: 81058, message: "An identical record already exists." };
    return undefined;
  }
}
