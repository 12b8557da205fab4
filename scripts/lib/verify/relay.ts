/**
 * HELO of each sending IP against its PTR, from the server's own outbound relay
 * (components/outbound-relay.ts: one master.cf transport `pm-<slot>` per IP, with
 * `-o smtp_bind_address=<IP> -o smtp_helo_name=<name>`), read over SSH with Postfix's
 * `postconf -P`, whose lines are `service/type/parameter = value` (postconf(1), -P).
 */
import { SshConnection, run } from "../../../providers/ssh/client";
import { dnsName } from "./dns";
import { CheckResult } from "./result";

export interface RelayTransport {
  /** The master.cf service name, e.g. pm-mx1-ip1. */
  name: string;
  bind?: string;
  helo?: string;
}

/** Our transports (`pm-…`, type unix) with their bind address and HELO, from `postconf -P` output. */
export function parseRelayTransports(postconfP: string): RelayTransport[] {
  const byName = new Map<string, RelayTransport>();
  for (const line of postconfP.split("\n")) {
    const m = /^(pm-[A-Za-z0-9-]+)\/unix\/(smtp_bind_address|smtp_helo_name)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const t = byName.get(m[1]) ?? { name: m[1] };
    if (m[2] === "smtp_bind_address") t.bind = m[3];
    else t.helo = dnsName(m[3]);
    byName.set(m[1], t);
  }
  return [...byName.values()];
}

/** A PTR answer: names, NXDOMAIN, or why there is none. */
export type PtrAnswer = string[] | "NXDOMAIN" | Error;

/**
 * One line per transport (HELO equals its bind address's PTR), and one per sending or standby IP of
 * the stack that no transport binds; a transport bound to the main IP fails (mail must never leave from it).
 */
export function judgeHelo(
  server: string,
  transports: RelayTransport[],
  ips: Array<{ ip: string; hostname: string }>,
  mainIp: string,
  ptrOf: (ip: string) => PtrAnswer,
): CheckResult[] {
  const out: CheckResult[] = [];
  for (const t of transports) {
    const subject = `${t.name} ${t.bind ?? "(no bind address)"}`;
    const line = (status: CheckResult["status"], detail: string) => out.push({ check: "helo = ptr", subject, status, detail });
    if (!t.bind) {
      line("fail", `${server}: transport ${t.name} has no smtp_bind_address: it sends from the route's address, maybe the main IP`);
      continue;
    }
    if (t.bind === mainIp) {
      line("fail", `${server}: transport ${t.name} binds the main IP ${mainIp}: mail must never leave from it`);
      continue;
    }
    const ptr = ptrOf(t.bind);
    const names = Array.isArray(ptr) ? ptr.map(dnsName) : [];
    const ptrShown =
      ptr === "NXDOMAIN" ? "missing (NXDOMAIN)" : ptr instanceof Error ? `unknown (${ptr.message})` : names.join(", ") || "missing";
    if (!t.helo) line("fail", `no smtp_helo_name: HELO is the server's name, not ${t.bind}'s PTR (${ptrShown})`);
    else if (ptr instanceof Error) line("unknown", `HELO ${t.helo}; PTR of ${t.bind} could not be read (${ptr.message})`);
    else if (!names.includes(t.helo)) line("fail", `HELO ${t.helo}, but the PTR of ${t.bind} is ${ptrShown}`);
    else line("pass", `HELO ${t.helo} = PTR of ${t.bind}`);
  }
  for (const { ip, hostname } of ips)
    if (!transports.some((t) => t.bind === ip))
      out.push({
        check: "helo = ptr",
        subject: ip,
        status: "fail",
        detail: `${server}: no relay transport binds ${ip} (${hostname}); its domains cannot leave from it`,
      });
  return out;
}

/** How to reach a server over SSH, and what to mask in what it says. */
export interface SshAccess {
  connection: SshConnection;
  secrets: string[];
}

/** The relay's transports as the server's Postfix reads them. */
export async function readRelayTransports(access: SshAccess): Promise<RelayTransport[]> {
  const r = await run(access.connection, "postconf -c /etc/postfix -P", { secrets: access.secrets, timeoutMs: 60_000, dialAttempts: 2 });
  if (r.code !== 0)
    throw new Error(`postconf -P failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" ")}`);
  return parseRelayTransports(r.stdout);
}
