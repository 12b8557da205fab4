/**
 * A real MTA judges the outbound relay: inside a stand-in host (its own network namespace, the
 * sending IPs on its NIC), Debian's Postfix runs exactly the files the install wrote, and Postfix's
 * own smtp-sink (on 203.0.113.25, a documentation address local to the namespace: nothing leaves it)
 * records each delivery's client address and HELO; smtp-source plays MailU handing mail over.
 */
import { promises as dnsp } from "dns";
import { SshHostSim } from "./standins/ssh-host";
import { RELAY_ADDRESS } from "../../components/outbound-relay";

export const SINK = "203.0.113.25";

export interface Delivery {
  sender: string;
  /** The address the sink saw the connection from. */
  addr: string;
  helo: string;
}

/** Starts the sink and the relay's Postfix in the host (the stand-in has no systemd to start it). */
export async function startRelay(hosts: SshHostSim, ip: string): Promise<void> {
  const r = await hosts.run(
    ip,
    `set -e
ip addr replace ${SINK}/32 dev ${hosts.nic}-up
mkdir -p /tmp/sink && chmod 1777 /tmp/sink
setsid smtp-sink -u nobody -d /tmp/sink/%M. ${SINK}:25 64 </dev/null >/dev/null 2>&1 &
postfix status >/dev/null 2>&1 || postfix start`,
  );
  if (r.code !== 0) throw new Error(`starting the relay on ${ip} failed: ${r.stdout}${r.stderr}`);
}

/**
 * How long a wait on the relay may last before the test gives up: Postfix delivers in well under a
 * second on a quiet machine, but at load 10+ a delivery has taken longer than 5 s. Every wait here
 * ends as soon as what it waits for is there, so the ceiling costs nothing when things work.
 */
export const RELAY_CEILING_S = 120;

/** A shell loop that waits until `condition` holds (returning at once when it does), at most `ceilingS` seconds. */
export const waitUntil = (condition: string, ceilingS = RELAY_CEILING_S) =>
  `deadline=$(( $(date +%s) + ${ceilingS} )); until ${condition}; do [ "$(date +%s)" -ge "$deadline" ] && break; sleep 0.2; done`;

/** Messages the sink holds in full: smtp-sink writes the file's headers (read below) as it takes the message. */
const SINK_COUNT = `"$(grep -l '^X-Mail-Args:' /tmp/sink/* 2>/dev/null | wc -l)"`;

const SINK_LIST = `for f in /tmp/sink/*; do
  [ -f "$f" ] || continue
  printf '%s %s %s\\n' "$(sed -n 's/^X-Mail-Args: <\\([^>]*\\)>.*/\\1/p' "$f")" "$(sed -n 's/^X-Client-Addr: //p' "$f")" "$(sed -n 's/^X-Helo-Args: //p' "$f")"
done`;
const parseSink = (stdout: string): Delivery[] =>
  stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [sender, addr, helo] = l.split(" ");
      return { sender, addr, helo };
    });

/** Hands one message per sender to the relay (as MailU would) and returns what the sink saw, in sender order. */
export async function deliver(hosts: SshHostSim, ip: string, senders: string[]): Promise<Delivery[]> {
  const r = await hosts.run(
    ip,
    `set -e
rm -f /tmp/sink/*
for s in ${senders.join(" ")}; do smtp-source -m 1 -f "$s" -t "sink@[${SINK}]" ${RELAY_ADDRESS}:25; done
${waitUntil(`[ ${SINK_COUNT} -ge ${senders.length} ]`)}
${SINK_LIST}`,
  );
  if (r.code !== 0) throw new Error(`delivering through the relay on ${ip} failed: ${r.stdout}${r.stderr}`);
  const seen = parseSink(r.stdout);
  return senders.map((s) => seen.find((d) => d.sender === s) ?? { sender: s, addr: "(not delivered)", helo: "" });
}

/**
 * What is wrong with the deliveries, one line each (none = every message left from a sending IP, never
 * the main IP, with a HELO equal to that IP's PTR as the DNS server answers it, and from the IP expected).
 */
export async function identityProblems(
  deliveries: Delivery[],
  o: { dnsServer: string; mainIp: string; expected?: Record<string, string> },
): Promise<string[]> {
  const resolver = new dnsp.Resolver();
  resolver.setServers([o.dnsServer]);
  const problems: string[] = [];
  for (const d of deliveries) {
    if (d.addr === o.mainIp) problems.push(`${d.sender}: left from the main IP ${d.addr}`);
    const want = o.expected?.[d.sender];
    if (want && d.addr !== want) problems.push(`${d.sender}: left from ${d.addr}, expected ${want}`);
    const ptr = await resolver.reverse(d.addr).catch(() => [] as string[]);
    if (!ptr.includes(d.helo))
      problems.push(`${d.sender}: HELO ${d.helo || "(none)"} from ${d.addr}, whose PTR is ${ptr.join(", ") || "(none)"}`);
  }
  return problems;
}

/**
 * What the sink has received, as soon as it holds `expect` messages (or after RELAY_CEILING_S: fewer
 * arrived, and the test says which). Each message is a file of its own (smtp-sink -d appends a random
 * string to each name).
 */
export async function sinkSeen(hosts: SshHostSim, ip: string, expect: number): Promise<Delivery[]> {
  const r = await hosts.run(
    ip,
    `${waitUntil(`[ ${SINK_COUNT} -ge ${expect} ]`)}
${SINK_LIST}`,
  );
  if (r.code !== 0) throw new Error(`reading the sink on ${ip} failed: ${r.stdout}${r.stderr}`);
  return parseSink(r.stdout);
}

/** Hands `count` messages from one sender to the relay (as MailU would), the sink emptied first; returns what the sink saw. */
export async function sendMany(hosts: SshHostSim, ip: string, sender: string, count: number, expect: number): Promise<Delivery[]> {
  const r = await hosts.run(
    ip,
    `set -e
rm -f /tmp/sink/*
smtp-source -m ${count} -f "${sender}" -t "sink@[${SINK}]" ${RELAY_ADDRESS}:25`,
  );
  if (r.code !== 0) throw new Error(`handing ${count} messages to the relay on ${ip} failed: ${r.stdout}${r.stderr}`);
  return sinkSeen(hosts, ip, expect);
}

/** The relay's queue as Postfix reports it (`postqueue -j`, postqueue(1): one JSON object per message). */
export async function relayQueue(hosts: SshHostSim, ip: string): Promise<Array<{ queue_name: string; queue_id: string; sender: string }>> {
  const r = await hosts.run(ip, "postqueue -j");
  if (r.code !== 0) throw new Error(`postqueue -j on ${ip} failed: ${r.stdout}${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { queue_name: string; queue_id: string; sender: string });
}

/**
 * The relay's queue as soon as `done` holds for it, or as it is after RELAY_CEILING_S (the test then
 * shows what differs): a delivery the sink already holds may still be in Postfix's active queue for a
 * moment, longer on a busy machine.
 */
export async function relayQueueWhen(
  hosts: SshHostSim,
  ip: string,
  done: (queue: Awaited<ReturnType<typeof relayQueue>>) => boolean,
): Promise<Awaited<ReturnType<typeof relayQueue>>> {
  const until = Date.now() + RELAY_CEILING_S * 1000;
  for (;;) {
    const queue = await relayQueue(hosts, ip);
    if (done(queue) || Date.now() > until) return queue;
    await new Promise((r) => setTimeout(r, 200));
  }
}
