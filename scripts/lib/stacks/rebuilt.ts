/**
 * What a rebuilt server cost: after `up --refresh` replaced a server that was
 * lost behind the stack's back, its main IP and sending IPs are new addresses
 * (Hostwinds gives a new server new IPs), so their reputation is gone and
 * their warm-up starts over. Said plainly in the output.
 */
import { OutputMap } from "@pulumi/pulumi/automation";

interface ServerOut {
  name: string;
  serviceId: number;
  mainIp: string;
  sendingIps: Array<{ ip: string }>;
}

export function rebuiltServers(tenant: string, before: OutputMap, after: OutputMap): string[] {
  const was = new Map(((before.servers?.value ?? []) as ServerOut[]).map((s) => [s.name, s]));
  const lines: string[] = [];
  for (const s of (after.servers?.value ?? []) as ServerOut[]) {
    const old = was.get(s.name);
    if (!old || old.serviceId === s.serviceId) continue;
    const oldIps = old.sendingIps.map((x) => x.ip);
    const newIps = s.sendingIps.map((x) => x.ip);
    lines.push(
      `${tenant}: server ${s.name} was rebuilt as a new server (${old.serviceId} → ${s.serviceId}): main IP ${old.mainIp} → ${s.mainIp}; ` +
        `sending IPs ${oldIps.join(", ") || "none"} → ${newIps.join(", ") || "none"}. The new IPs have no reputation: their warm-up starts over today (see the warmup output); DNS, SPF and rDNS point at them.`,
    );
  }
  return lines;
}
