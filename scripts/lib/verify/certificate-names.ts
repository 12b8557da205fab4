/**
 * The names clients reach over HTTPS at a mail host (the stack's CNAMEs to it: autoconfig,
 * autodiscover, mta-sts) each need the certificate the host serves for them: a TLS client checks
 * the name it asked for against the certificate (RFC 6125 §6; Node's tls.checkServerIdentity), and
 * MailU's certificate names exactly its HOSTNAMES. So for each such name: a TLS handshake with that
 * name as SNI to the host's address on 443, and the certificate must be trusted and name it.
 */
import * as tls from "tls";
import { CheckResult } from "./result";
import { PublishedRecord, dnsName } from "./dns";
import type { HttpsOptions } from "./mta-sts";

export interface WebHost {
  /** The mail host's name (what the CNAMEs point at). */
  hostname: string;
  /** Where to reach it. */
  address: string;
}

/** The CNAMEs of the stack that point at one of its mail hosts: names served by that host's certificate. */
export function namesServedBy(records: PublishedRecord[], hosts: WebHost[]): Array<{ name: string; host: WebHost }> {
  const out: Array<{ name: string; host: WebHost }> = [];
  for (const r of records) {
    if (r.type !== "CNAME") continue;
    const host = hosts.find((h) => dnsName(h.hostname) === dnsName(r.content));
    if (host) out.push({ name: dnsName(r.name), host });
  }
  return out;
}

/** What a TLS client asking for `name` finds: a verdict on the certificate's names and trust. */
export function certificateFor(name: string, address: string, o: HttpsOptions = {}): Promise<CheckResult> {
  const result = (status: CheckResult["status"], detail: string): CheckResult => ({
    check: "certificate name",
    subject: name,
    status,
    detail,
  });
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: o.host ?? address,
      port: o.port ?? 443,
      servername: name,
      ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}),
      // Judged below, so that a wrong name is reported as such rather than as a failed connection.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no TLS handshake within ${(o.timeoutMs ?? 10_000) / 1000} s`)),
      o.timeoutMs ?? 10_000,
    );
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      const nameErr = tls.checkServerIdentity(name, cert);
      const names = cert.subjectaltname ?? cert.subject?.CN ?? "no names";
      socket.end();
      if (nameErr)
        return resolve(
          result(
            "fail",
            `the certificate served for ${name} does not name it (${names}): add ${name} to MailU's HOSTNAMES and let it renew`,
          ),
        );
      if (!socket.authorized) return resolve(result("fail", `the certificate for ${name} is not trusted: ${socket.authorizationError}`));
      resolve(result("pass", `certificate names ${name}`));
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      resolve(result("fail", `no TLS on ${o.host ?? address}:${o.port ?? 443} for ${name}: ${e.message}`));
    });
  });
}

/** One result per name the stack points at a mail host. */
export async function checkCertificateNames(records: PublishedRecord[], hosts: WebHost[], o: HttpsOptions = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const { name, host } of namesServedBy(records, hosts)) out.push(await certificateFor(name, host.address, o));
  return out;
}
