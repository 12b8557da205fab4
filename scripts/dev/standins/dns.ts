/**
 * A DNS server on loopback (UDP, with `dns2`) that answers as the
 * world would once the stand-ins' changes propagated: the Cloudflare
 * stand-in's records (authoritative), PTR from the Hostwinds stand-in's
 * rDNS, and DNS blocklist zones (listed → 127.0.0.2, "could not tell" →
 * 127.255.255.254, otherwise NXDOMAIN), and a zone's NS when the test says where it is
 * delegated (RFC 1035 §3.3.11). Faults make it a lagging or wrong
 * resolver: records it does not serve yet, or serves with old content.
 * Long TXT values are split into 255-byte strings, as on the wire.
 */
import dns2 from "dns2";

export interface DnsRecordSource {
  type: string;
  name: string;
  content: string;
  priority?: number;
  data?: Record<string, unknown>;
}

export interface DnsSimOptions {
  records: () => DnsRecordSource[];
  ptr?: (ip: string) => string | undefined;
  /** The NS a zone's delegation names (as the parent zone and resolvers answer it), or undefined: none. */
  ns?: (zone: string) => string[] | undefined;
  /** Blocklist zones, each with the IPs listed on it and those it cannot tell about. */
  blocklists?: Record<string, { listed?: string[]; unknown?: string[] }>;
}

export interface DnsFaults {
  /** "TYPE name" keys this server does not answer (not propagated yet). */
  missing?: Set<string>;
  /** "TYPE name" → content it still serves (stale). */
  stale?: Map<string, string>;
}

const T = dns2.Packet.TYPE;
const TYPE_NAMES: Record<number, string> = { [T.A]: "A", [T.TXT]: "TXT", [T.MX]: "MX", [T.CNAME]: "CNAME", [T.SRV]: "SRV", [T.PTR]: "PTR" };

/** A TXT value as DNS carries it: strings of at most 255 bytes. */
export function txtStrings(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255).toString("utf8"));
  return out.length ? out : [""];
}

export class DnsSim {
  faults: DnsFaults = {};
  /** Questions asked so far (a test waits on one arriving). */
  queries = 0;
  /** While true, questions are taken and not answered until `release()` (a test holds a step there). */
  holding = false;
  private held: Array<() => void> = [];
  private udp?: ReturnType<typeof dns2.createServer>;
  private port = 0;

  constructor(private o: DnsSimOptions) {}

  /** `127.0.0.1:<port>`, for a resolver's server list. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = dns2.createServer({
      udp: true,
      handle: (request, send) => {
        this.queries++;
        const answer = () => {
          const response = dns2.Packet.createResponseFromRequest(request);
          response.header.aa = 1;
          const [q] = request.questions;
          const answers = q ? this.answer(q.name.toLowerCase().replace(/\.$/, ""), q.type) : [];
          if (answers === "NXDOMAIN") response.header.rcode = 3;
          else response.answers.push(...answers.map((a) => ({ name: q.name, class: dns2.Packet.CLASS.IN, ttl: 60, ...a })));
          send(response);
        };
        if (this.holding) this.held.push(answer);
        else answer();
      },
    });
    // UDP only: on loopback an answer of any size arrives whole (resolvers advertise EDNS0).
    const udpPort = await new Promise<number>((resolve) => {
      server.on("listening", (addrs) => resolve(addrs.udp!.port));
      void server.listen({ udp: { port: 0, address: "127.0.0.1" } });
    });
    this.port = udpPort;
    this.udp = server;
    return this;
  }

  /** Answers the held questions and stops holding. */
  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  async stop(): Promise<void> {
    this.release();
    await this.udp?.close();
  }

  private answer(name: string, type: number): Array<Record<string, unknown>> | "NXDOMAIN" {
    const typeName = TYPE_NAMES[type];
    // Blocklists: <reversed IP>.<zone>
    for (const [zone, bl] of Object.entries(this.o.blocklists ?? {})) {
      if (!name.endsWith(`.${zone}`)) continue;
      const ip = name
        .slice(0, -zone.length - 1)
        .split(".")
        .reverse()
        .join(".");
      if (type !== T.A) return [];
      if (bl.unknown?.includes(ip)) return [{ type: T.A, address: "127.255.255.254" }];
      if (bl.listed?.includes(ip)) return [{ type: T.A, address: "127.0.0.2" }];
      return "NXDOMAIN";
    }
    const ns = type === T.NS ? this.o.ns?.(name) : undefined;
    if (ns) return ns.map((host) => ({ type: T.NS, ns: host }));
    if (name.endsWith(".in-addr.arpa")) {
      const ip = name
        .replace(/\.in-addr\.arpa$/, "")
        .split(".")
        .reverse()
        .join(".");
      const ptr = this.o.ptr?.(ip);
      if (!ptr) return "NXDOMAIN";
      return type === T.PTR ? [{ type: T.PTR, domain: ptr }] : [];
    }
    const all = this.o.records().filter((r) => r.name.toLowerCase() === name);
    if (!all.length) return "NXDOMAIN";
    const key = `${typeName} ${name}`;
    if (this.faults.missing?.has(key)) return [];
    const stale = this.faults.stale?.get(key);
    const records = all.filter((r) => r.type === typeName || (r.type === "CNAME" && type === T.A));
    return records.map((r) => {
      const content = stale ?? r.content;
      switch (r.type) {
        case "A":
          return { type: T.A, address: content };
        case "CNAME":
          return { type: T.CNAME, domain: content };
        case "MX":
          return { type: T.MX, exchange: content, priority: r.priority ?? 10 };
        case "TXT":
          return { type: T.TXT, data: txtStrings(content) };
        case "SRV": {
          // Cloudflare keeps SRV as data (priority, weight, port, target); content is derived from it.
          const d = r.data as { priority?: number; weight?: number; port?: number; target?: string } | undefined;
          const [priority, weight, port, target] = d && !stale ? [d.priority, d.weight, d.port, d.target] : content.split(" ");
          return { type: T.SRV, priority: Number(priority ?? r.priority ?? 0), weight: Number(weight), port: Number(port), target };
        }
        default:
          return { type: T.TXT, data: [content] };
      }
    });
  }
}
