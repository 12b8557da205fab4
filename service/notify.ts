/**
 * Telling people about incidents, channel by channel in the order the operator configured them
 * (default: the platform's webhook, then e-mail to the operator, then a Slack-compatible incoming
 * webhook): the first channel when an incident opens, the next each time it stays
 * unacknowledged `escalateAfterMinutes` (./incidents.ts `nextChannel`). A channel that fails is
 * tried again on the next pass (the incident's timeline says why).
 *
 * Slack's incoming webhooks take a POST of JSON `{"text": "…"}` (Slack's documentation,
 * docs.slack.dev/tools/java-slack-sdk/guides/incoming-webhooks: `curl -X POST -H
 * 'Content-type: application/json' -d '{"text":"Hello, World!"}' <webhook URL>`); Mattermost and
 * others take the same shape.
 */
import { Pool } from "pg";
import { inTransaction } from "../scripts/lib/postgres/index";
import { incidentLine, nextChannel } from "./incidents";
import { queueWebhook } from "./lifecycle";
import { MailServer, sendMail } from "./mailer";
import { IncidentRow, addIncidentEvent, incidentsToNotify, markNotified } from "./store/incidents";

export type Channel = { kind: "webhook" } | { kind: "email"; server: MailServer } | { kind: "slack"; url: string };

export interface NotifyOptions {
  channels: Channel[];
  escalateAfterMinutes: number;
  /** Where the console shows an incident (its address is put in every message), if known. */
  consoleUrl?: string;
  timeoutMs?: number;
}

export const channelName = (c: Channel) =>
  c.kind === "email" ? `e-mail to ${c.server.to}` : c.kind === "slack" ? "Slack webhook" : "webhook";

export async function tellChannel(pool: Pool, ch: Channel, i: IncidentRow, line: string, o: NotifyOptions): Promise<void> {
  const link = o.consoleUrl ? `${o.consoleUrl}/console/incidents/${i.id}` : undefined;
  if (ch.kind === "webhook") {
    await inTransaction(pool, (c) =>
      queueWebhook(c, "incident", i.tenant, {
        event: "incident",
        incident: { id: Number(i.id), tenant: i.tenant, cause: i.cause, status: i.status, summary: i.summary, escalation: i.escalation },
        text: line,
      }),
    );
    return;
  }
  if (ch.kind === "email") {
    await sendMail(ch.server, line, [line, "", `Opened ${i.opened_at.toISOString()}.`, link ? `See ${link}` : ""].join("\n"));
    return;
  }
  const res = await fetch(ch.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text: link ? `${line} <${link}|open>` : line }),
    signal: AbortSignal.timeout(o.timeoutMs ?? 5_000),
  });
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`the Slack webhook answered ${res.status}`);
}

/** Tells each open incident's next channel when it is due; returns how many messages went out. */
export async function notifyPass(pool: Pool, o: NotifyOptions, now = new Date()): Promise<number> {
  let sent = 0;
  for (const i of await incidentsToNotify(pool, o.channels.length)) {
    const k = nextChannel(
      { acknowledged: !!i.acknowledged_at, open: i.status === "open", escalation: i.escalation, lastAt: i.notified_at ?? i.opened_at },
      o.channels.length,
      o.escalateAfterMinutes,
      now,
    );
    if (k === null) continue;
    const ch = o.channels[k];
    try {
      await tellChannel(pool, ch, i, incidentLine({ ...i, id: Number(i.id) }, k > 0), o);
      await inTransaction(pool, async (c) => {
        await markNotified(c, i.id, k + 1);
        await addIncidentEvent(c, i.id, k === 0 ? "notified" : "escalated", `told ${channelName(ch)}`);
      });
      sent++;
    } catch (e) {
      await addIncidentEvent(pool, i.id, "notified", `telling ${channelName(ch)} failed (tried again next pass): ${(e as Error).message}`);
    }
  }
  return sent;
}

/**
 * The channels from the command line: the webhook, then e-mail when an operator address is
 * given (through `relay`, default 127.0.0.1:25), then Slack when its URL is set (a secret: from
 * the environment only).
 */
export function channelsFrom(o: { operatorEmail?: string; mailRelay?: string; mailFrom?: string; slackUrl?: string }): Channel[] {
  const out: Channel[] = [{ kind: "webhook" }];
  if (o.operatorEmail) {
    const m = /^(.*):(\d+)$/.exec(o.mailRelay ?? "127.0.0.1:25");
    if (!m) throw new Error(`--mail-relay must be HOST:PORT (got '${o.mailRelay}')`);
    out.push({
      kind: "email",
      server: { host: m[1], port: Number(m[2]), from: o.mailFrom ?? "penguinmails-service@localhost", to: o.operatorEmail },
    });
  }
  if (o.slackUrl) out.push({ kind: "slack", url: o.slackUrl });
  return out;
}
