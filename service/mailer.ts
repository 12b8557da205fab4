/**
 * A plain SMTP client for the operator's incident mail: one message to one address through the
 * SMTP server the operator configured (RFC 5321: EHLO, MAIL FROM, RCPT TO, DATA; STARTTLS per
 * RFC 3207 when the server offers it, its certificate checked unless `insecureTls`). No
 * authentication: a relay that takes the service's mail by address (a local Postfix, a smarthost).
 */
import * as net from "net";
import * as tls from "tls";

export interface MailServer {
  host: string;
  port: number;
  from: string;
  to: string;
  timeoutMs?: number;
  insecureTls?: boolean;
}

/** Splits an SMTP reply stream into complete replies (the last line has a space after the code, RFC 5321 §4.2). */
function replies(socket: net.Socket | tls.TLSSocket, timeoutMs: number) {
  let buf = "";
  let failed: Error | undefined;
  const waiting: Array<{ ok: (r: { code: number; text: string }) => void; no: (e: Error) => void }> = [];
  const ready: Array<{ code: number; text: string }> = [];
  const onData = (d: Buffer) => {
    buf += d.toString("utf8");
    let m: RegExpExecArray | null;
    while ((m = /^((?:\d{3}-[^\r\n]*\r?\n)*)(\d{3})(?: [^\r\n]*)?\r?\n/.exec(buf))) {
      const r = { code: Number(m[2]), text: m[0].trim() };
      buf = buf.slice(m[0].length);
      const w = waiting.shift();
      if (w) w.ok(r);
      else ready.push(r);
    }
  };
  // An error after the conversation (a reset once QUIT is sent) must not go unhandled; during it, it fails the step.
  const onError = (e: Error) => {
    failed = e;
    waiting.splice(0).forEach((w) => w.no(e));
  };
  socket.on("data", onData);
  socket.on("error", onError);
  return {
    off: () => socket.off("data", onData),
    next: () =>
      new Promise<{ code: number; text: string }>((resolve, reject) => {
        const r = ready.shift();
        if (r) return resolve(r);
        if (failed) return reject(failed);
        const t = setTimeout(() => reject(new Error(`the SMTP server did not answer within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({
          ok: (x) => {
            clearTimeout(t);
            resolve(x);
          },
          no: (e) => {
            clearTimeout(t);
            reject(e);
          },
        });
      }),
  };
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ");

/** Sends one plain-text message; throws naming the step the server refused. */
export async function sendMail(o: MailServer, subject: string, text: string): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  let socket: net.Socket | tls.TLSSocket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: o.host, port: o.port }, () => resolve(s));
    s.once("error", reject);
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`SMTP ${o.host}:${o.port} timed out`)));
  });
  let r = replies(socket, timeoutMs);
  const say = async (line: string | null, want: number) => {
    if (line !== null) socket.write(`${line}\r\n`);
    const a = await r.next();
    if (Math.floor(a.code / 100) !== Math.floor(want / 100))
      throw new Error(`SMTP ${o.host}:${o.port} answered "${a.text}" to ${line?.split(" ")[0] ?? "the connection"}`);
    return a;
  };
  try {
    await say(null, 220);
    const ehlo = await say("EHLO penguinmails-service.invalid", 250);
    if (/\bSTARTTLS\b/i.test(ehlo.text)) {
      await say("STARTTLS", 220);
      r.off();
      socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: socket as net.Socket, servername: o.host, rejectUnauthorized: !o.insecureTls }, () => resolve(s));
        s.once("error", reject);
      });
      r = replies(socket, timeoutMs);
      await say("EHLO penguinmails-service.invalid", 250);
    }
    await say(`MAIL FROM:<${oneLine(o.from)}>`, 250);
    await say(`RCPT TO:<${oneLine(o.to)}>`, 250);
    await say("DATA", 354);
    const body = text.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
    const message = [
      `From: <${oneLine(o.from)}>`,
      `To: <${oneLine(o.to)}>`,
      `Subject: ${oneLine(subject)}`,
      `Date: ${new Date().toUTCString()}`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "",
      body,
      ".",
    ].join("\r\n");
    await say(message, 250);
    socket.write("QUIT\r\n");
  } finally {
    setTimeout(() => socket.destroy(), 100).unref();
  }
}
