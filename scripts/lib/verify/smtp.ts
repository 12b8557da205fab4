/**
 * Per server: SMTP on 25, 465 and 587 answers with a banner naming the host,
 * STARTTLS works on 25 and 587 (465 is TLS from the first byte), the
 * certificate is trusted and names the host, and its expiry is reported.
 */
import * as net from "net";
import * as tls from "tls";
import { CheckResult } from "./result";

export interface SmtpTarget {
  hostname: string;
  address: string;
}
export interface SmtpOptions {
  /** Port each standard port is reached on (tests map 25 → 2525 …). */
  ports?: Record<number, number>;
  /** Extra trusted CA (PEM), e.g. a test CA. */
  ca?: string;
  timeoutMs?: number;
  /** Days before expiry that make a warning (default 14). */
  warnDays?: number;
}

class Conversation {
  private buf = "";
  private waiters: Array<() => void> = [];
  constructor(public socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }
  attach(socket: net.Socket | tls.TLSSocket): void {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.buf += d.toString("latin1");
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  /** The next full reply (multi-line replies end with "NNN "). */
  async reply(timeoutMs: number): Promise<{ code: number; lines: string[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split("\r\n");
      const end = lines.findIndex((l) => /^\d{3} /.test(l) || /^\d{3}$/.test(l));
      if (end >= 0) {
        this.buf = lines.slice(end + 1).join("\r\n");
        return { code: Number(lines[end].slice(0, 3)), lines: lines.slice(0, end + 1).map((l) => l.slice(4)) };
      }
      if (Date.now() > deadline) throw new Error("no reply within the timeout");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }
}

function connect(address: string, port: number, timeoutMs: number, tlsOpts?: tls.ConnectionOptions): Promise<net.Socket | tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsOpts ? tls.connect({ host: address, port, ...tlsOpts }) : net.connect({ host: address, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer on port ${port} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.once(tlsOpts ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function certificateVerdict(
  socket: tls.TLSSocket,
  hostname: string,
  warnDays: number,
): { status: "pass" | "warn" | "fail"; detail: string } {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.valid_to) return { status: "fail", detail: "no certificate" };
  const days = Math.floor((Date.parse(cert.valid_to) - Date.now()) / 86_400_000);
  const nameErr = tls.checkServerIdentity(hostname, cert);
  const problems = [
    ...(nameErr ? [`certificate does not name ${hostname} (${cert.subjectaltname ?? cert.subject?.CN ?? "no names"})`] : []),
    ...(!socket.authorized && !nameErr ? [`certificate not trusted: ${socket.authorizationError}`] : []),
    ...(days < 0 ? [`certificate expired ${-days} days ago (${cert.valid_to})`] : []),
  ];
  if (problems.length) return { status: "fail", detail: problems.join("; ") };
  return { status: days < warnDays ? "warn" : "pass", detail: `certificate for ${hostname}, expires in ${days} days (${cert.valid_to})` };
}

async function probe(t: SmtpTarget, port: number, o: SmtpOptions): Promise<CheckResult> {
  const realPort = o.ports?.[port] ?? port;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const tlsOpts: tls.ConnectionOptions = {
    servername: t.hostname,
    rejectUnauthorized: false,
    ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}),
  };
  const subject = `${t.hostname}:${port}`;
  const fail = (detail: string): CheckResult => ({ check: "smtp", subject, status: "fail", detail });
  let socket: net.Socket | tls.TLSSocket;
  try {
    socket = await connect(t.address, realPort, timeoutMs, port === 465 ? tlsOpts : undefined);
  } catch (e) {
    return fail(`cannot connect to ${t.address}:${realPort}: ${(e as Error).message}`);
  }
  const c = new Conversation(socket);
  try {
    const banner = await c.reply(timeoutMs);
    if (banner.code !== 220) return fail(`banner is "${banner.code} ${banner.lines[0]}", not 220`);
    if (banner.lines[0].split(/\s+/)[0].toLowerCase() !== t.hostname)
      return fail(`banner names "${banner.lines[0].split(/\s+/)[0]}", not ${t.hostname} (myhostname must equal the PTR name)`);
    c.send("EHLO verify.penguinmails.invalid");
    const ehlo = await c.reply(timeoutMs);
    if (ehlo.code !== 250) return fail(`EHLO answered ${ehlo.code}`);
    if (port !== 465) {
      if (!ehlo.lines.some((l) => /^STARTTLS\b/i.test(l))) return fail("STARTTLS is not offered");
      c.send("STARTTLS");
      const go = await c.reply(timeoutMs);
      if (go.code !== 220) return fail(`STARTTLS answered ${go.code} ${go.lines[0]}`);
      const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket: socket as net.Socket, ...tlsOpts }, () => resolve(s));
        s.once("error", reject);
      });
      c.attach(secure);
      const v = certificateVerdict(secure, t.hostname, o.warnDays ?? 14);
      c.send("QUIT");
      return { check: "smtp", subject, status: v.status, detail: `banner ${t.hostname}, STARTTLS; ${v.detail}` };
    }
    const v = certificateVerdict(socket as tls.TLSSocket, t.hostname, o.warnDays ?? 14);
    c.send("QUIT");
    return { check: "smtp", subject, status: v.status, detail: `banner ${t.hostname}, TLS; ${v.detail}` };
  } catch (e) {
    return fail((e as Error).message);
  } finally {
    setTimeout(() => c.socket.destroy(), 100);
  }
}

export async function checkSmtp(targets: SmtpTarget[], o: SmtpOptions = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const t of targets) for (const port of [25, 465, 587]) out.push(await probe(t, port, o));
  return out;
}

export interface ReportMailbox {
  /** The address a report record names. */
  address: string;
  /** Which records name it, e.g. "DMARC rua", "TLS-RPT rua". */
  roles: string[];
  /** The MX host of the address's domain and where to reach it. */
  mx?: SmtpTarget;
}

/**
 * Whether the domain's MX takes mail for a report address: EHLO, `MAIL FROM:<>` (reports may come
 * with a null sender), `RCPT TO:<address>`; 250/251 pass, 4xx unknown, 5xx fail (RFC 5321 §4.2,
 * §4.3.2). Nothing is sent: the conversation ends with RSET and QUIT.
 */
async function askRecipient(m: ReportMailbox, o: SmtpOptions): Promise<CheckResult> {
  const subject = m.address;
  const roles = m.roles.join(", ");
  const line = (status: CheckResult["status"], detail: string): CheckResult => ({ check: "report mailbox", subject, status, detail });
  if (!m.mx) return line("fail", `${roles}: the domain of ${m.address} has no MX with an address to deliver reports to`);
  const realPort = o.ports?.[25] ?? 25;
  const timeoutMs = o.timeoutMs ?? 10_000;
  let socket: net.Socket;
  try {
    socket = (await connect(m.mx.address, realPort, timeoutMs)) as net.Socket;
  } catch (e) {
    return line("unknown", `${roles}: cannot connect to ${m.mx.hostname} (${m.mx.address}:${realPort}): ${(e as Error).message}`);
  }
  const c = new Conversation(socket);
  try {
    const banner = await c.reply(timeoutMs);
    if (banner.code !== 220) return line("unknown", `${roles}: ${m.mx.hostname} greets with ${banner.code} ${banner.lines[0]}`);
    c.send("EHLO verify.penguinmails.invalid");
    if ((await c.reply(timeoutMs)).code !== 250) return line("unknown", `${roles}: ${m.mx.hostname} refused EHLO`);
    c.send("MAIL FROM:<>");
    const from = await c.reply(timeoutMs);
    if (from.code !== 250) return line("unknown", `${roles}: ${m.mx.hostname} refused MAIL FROM:<> with ${from.code} ${from.lines[0]}`);
    c.send(`RCPT TO:<${m.address}>`);
    const rcpt = await c.reply(timeoutMs);
    c.send("RSET");
    c.send("QUIT");
    const said = `${rcpt.code} ${rcpt.lines.join(" ")}`;
    if (rcpt.code === 250 || rcpt.code === 251) return line("pass", `${roles}: ${m.mx.hostname} accepts it (${said})`);
    if (rcpt.code >= 500)
      return line("fail", `${roles}: ${m.mx.hostname} rejects it (${said}): reports to it bounce; create the mailbox or alias`);
    return line("unknown", `${roles}: ${m.mx.hostname} answered ${said} (try again later)`);
  } catch (e) {
    return line("unknown", `${roles}: ${(e as Error).message}`);
  } finally {
    setTimeout(() => c.socket.destroy(), 100);
  }
}

export async function checkReportMailboxes(mailboxes: ReportMailbox[], o: SmtpOptions = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const m of mailboxes) out.push(await askRecipient(m, o));
  return out;
}
