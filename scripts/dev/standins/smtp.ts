/**
 * An SMTP server on loopback standing in for a tenant's MailU front: a
 * banner naming its host, EHLO with STARTTLS on the "25" and "587" ports,
 * TLS from the first byte on the "465" port, with a certificate made by
 * `testCertificates` (openssl). Faults: another name in the banner, no
 * STARTTLS, another certificate (wrong name, untrusted, short-lived).
 * MAIL FROM / RCPT TO / RSET as RFC 5321 §4.1.1 and §4.2 have them: a recipient
 * is taken (250) when `recipients` says so (the test asks MailU's stand-in state:
 * its users and the aliases the install made), else refused with the reply
 * MailU's Postfix gives for an address it does not know: 550 5.1.1 "User unknown
 * in virtual mailbox table" (postconf(5) unknown_virtual_mailbox_reject_code,
 * default 550; the text is Postfix smtpd's).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import { AddressInfo } from "net";

export interface KeyAndCert {
  key: string;
  cert: string;
}
export interface TestCertificates {
  ca: string;
  good: KeyAndCert;
  wrongName: KeyAndCert;
  selfSigned: KeyAndCert;
  shortLived: KeyAndCert;
}

/** A test CA and leaf certificates for `hostname` (the good one also for `alsoNames`), made with the openssl CLI in `dir`. */
export function testCertificates(dir: string, hostname: string, alsoNames: string[] = []): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "30",
    "-subj",
    "/CN=penguinmails test CA",
  );
  const leaf = (name: string, cn: string, days: string, signed = true, more: string[] = []) => {
    fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${[cn, ...more].map((n) => `DNS:${n}`).join(",")}\n`);
    if (!signed) {
      ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f(`${name}.key`),
        "-out",
        f(`${name}.pem`),
        "-days",
        days,
        "-subj",
        `/CN=${cn}`,
        "-addext",
        `subjectAltName=DNS:${cn}`,
      );
    } else {
      ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${cn}`);
      ssl(
        "x509",
        "-req",
        "-in",
        f(`${name}.csr`),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-out",
        f(`${name}.pem`),
        "-days",
        days,
        "-extfile",
        f(`${name}.ext`),
      );
    }
    return { key: fs.readFileSync(f(`${name}.key`), "utf8"), cert: fs.readFileSync(f(`${name}.pem`), "utf8") };
  };
  return {
    ca: fs.readFileSync(f("ca.pem"), "utf8"),
    good: leaf("good", hostname, "90", true, alsoNames),
    wrongName: leaf("wrong", `other.${hostname}`, "90"),
    selfSigned: leaf("self", hostname, "90", false),
    shortLived: leaf("short", hostname, "3"),
  };
}

export interface SmtpFaults {
  banner?: string;
  noStartTls?: boolean;
  certificate?: KeyAndCert;
}

export class SmtpSim {
  faults: SmtpFaults = {};
  readonly ports: Record<number, number> = {};
  private servers: net.Server[] = [];

  constructor(
    private o: {
      hostname: string;
      certificate: KeyAndCert;
      host?: string;
      /** Whether an address has a mailbox or alias here (lower case); default: none. */
      recipients?: (address: string) => boolean;
    },
  ) {}

  private context(): tls.SecureContext {
    const c = this.faults.certificate ?? this.o.certificate;
    return tls.createSecureContext({ key: c.key, cert: c.cert });
  }

  private session(socket: net.Socket | tls.TLSSocket, secure: boolean): void {
    const name = this.faults.banner ?? this.o.hostname;
    socket.write(`220 ${name} ESMTP MailU\r\n`);
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString("latin1");
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "EHLO")
          socket.write(
            `250-${name}\r\n${!secure && !this.faults.noStartTls ? "250-STARTTLS\r\n" : ""}250-8BITMIME\r\n250 SIZE 50000000\r\n`,
          );
        else if (verb === "STARTTLS" && !secure && !this.faults.noStartTls) {
          socket.removeListener("data", onData);
          socket.write("220 2.0.0 Ready to start TLS\r\n");
          const upgraded = new tls.TLSSocket(socket, { isServer: true, secureContext: this.context() });
          upgraded.on("error", () => undefined);
          upgraded.on("data", (x: Buffer) => {
            if (x.toString().toUpperCase().startsWith("QUIT")) {
              upgraded.write("221 Bye\r\n");
              upgraded.end();
            } else upgraded.write("250 OK\r\n");
          });
          return;
        } else if (verb === "MAIL" && /^MAIL FROM:<[^>]*>/i.test(line)) socket.write("250 2.1.0 Ok\r\n");
        else if (verb === "RCPT") {
          const address = /^RCPT TO:<([^>]+)>/i.exec(line)?.[1].toLowerCase();
          if (!address) socket.write("501 5.1.3 Bad recipient address syntax\r\n");
          else if (this.o.recipients?.(address)) socket.write("250 2.1.5 Ok\r\n");
          else socket.write(`550 5.1.1 <${address}>: Recipient address rejected: User unknown in virtual mailbox table\r\n`);
        } else if (verb === "RSET") socket.write("250 2.0.0 Ok\r\n");
        else if (verb === "QUIT") {
          socket.write("221 2.0.0 Bye\r\n");
          socket.end();
        } else socket.write("502 5.5.1 Unrecognized command\r\n");
      }
    };
    socket.on("data", onData);
    socket.on("error", () => undefined);
  }

  async start(): Promise<this> {
    const host = this.o.host ?? "127.0.0.1";
    for (const port of [25, 465, 587]) {
      const server =
        port === 465
          ? tls.createServer({ SNICallback: (_n, cb) => cb(null, this.context()) }, (s) => this.session(s, true))
          : net.createServer((s) => this.session(s, false));
      await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
      this.ports[port] = (server.address() as AddressInfo).port;
      this.servers.push(server);
    }
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}
