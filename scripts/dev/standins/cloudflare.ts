/**
 * A local stand-in for the Cloudflare v4 DNS API, the endpoints a DNS record
 * resource uses: zones by name, and create / read / update / delete / list of
 * DNS records, in Cloudflare's `{"success","errors","messages","result"}`
 * envelope. Tokens are checked (Bearer) and scoped to zones; malformed records
 * get errors shaped like the real API's. Faults: 429 with Retry-After, 5xx.
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
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const HOST = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

export class CloudflareSim {
  private server?: http.Server;
  private readonly zones = new Map<string, Zone>();
  readonly tokens: Record<string, string[]>;
  faults: { http429?: number; http5xx?: number } = {};
  /** Requests received by "METHOD path-shape", for tests and benchmarks. */
  readonly requests = new Map<string, number>();

  constructor(o: CloudflareSimOptions = {}) {
    this.tokens = o.tokens ?? { "sim-cf-token-0123456789": ["*"] };
    this.port = o.port ?? 0;
  }
  private readonly port: number;

  /** Creates a zone (as if added in the dashboard) and returns its id. */
  addZone(name: string): string {
    const existing = [...this.zones.values()].find((z) => z.name === name);
    if (existing) return existing.id;
    const id = randomBytes(16).toString("hex");
    this.zones.set(id, { id, name, records: [] });
    return id;
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
    const may = (z: Zone) => scope.includes("*") || scope.includes(z.name);

    const parts = url.pathname
      .replace(/^\/client\/v4\/?/, "")
      .split("/")
      .filter(Boolean);
    if (parts[0] !== "zones") return fail(404, 7003, "Could not route to " + url.pathname + ", perhaps your object identifier is invalid?");
    if (parts.length === 1 && method === "GET") {
      const name = url.searchParams.get("name");
      const list = [...this.zones.values()]
        .filter((z) => may(z) && (!name || z.name === name))
        .map((z) => ({ id: z.id, name: z.name, status: "active" }));
      return send(200, { result: list, result_info: { page: 1, per_page: 50, count: list.length, total_count: list.length } });
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
        return send(200, { result: list, result_info: { page: 1, per_page: 100, count: list.length, total_count: list.length } });
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
        modified_on: new Date().toISOString(),
      });
      return send(200, { result: rec });
    }
    return fail(405, 10000, "Method not allowed");
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
    const others = zone.records.filter((r) => r.name === name && r.id !== selfId);
    if (type === "CNAME" && others.length) return { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." };
    if (others.some((r) => r.type === "CNAME")) return { code: 81054, message: "A CNAME record with that host already exists." };
    if (others.some((r) => r.type === type && r.content === this.contentOf(b)))
      return { code: 81058, message: "An identical record already exists." };
    return undefined;
  }
}
