/**
 * A mailbox password on its way to the platform: made by the tenant's stack (a secret output),
 * sealed here with AES-256-GCM under the service's credential key (the request's id as associated
 * data, so a sealed value cannot be moved to another request), kept in mailbox_credentials until
 * the result of its request is read once (GET /requests/{id}), then deleted. It is never in a
 * request's stored result, a webhook or a log line. The key: PENGUINMAILS_CREDENTIAL_KEY (32 bytes,
 * base64); without it a key made at start, so a password not read before a restart is lost (rotate
 * the mailbox again).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "crypto";

const IV = 12;
const TAG = 16;

/** The key from its base64 text; throws naming the variable when it is not 32 bytes. */
export function credentialKey(text: string | undefined, log?: (line: string) => void): Buffer {
  if (!text) {
    log?.("service: PENGUINMAILS_CREDENTIAL_KEY is not set; mailbox passwords not read before a restart are lost (rotate again)");
    return randomBytes(32);
  }
  const key = Buffer.from(text, "base64");
  if (key.length !== 32) throw new Error("PENGUINMAILS_CREDENTIAL_KEY must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)");
  return key;
}

export function seal(key: Buffer, requestId: string, plain: string): Buffer {
  const iv = randomBytes(IV);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(requestId));
  const body = Buffer.concat([c.update(plain, "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

export function unseal(key: Buffer, requestId: string, sealed: Buffer): string {
  const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV));
  d.setAAD(Buffer.from(requestId));
  d.setAuthTag(sealed.subarray(IV, IV + TAG));
  return Buffer.concat([d.update(sealed.subarray(IV + TAG)), d.final()]).toString("utf8");
}

/** How a mailbox logs in: submission (587 STARTTLS, 465 TLS) and IMAP (993 TLS) on its server (MailU's front). */
export function mailboxSettings(address: string, host: string) {
  return {
    username: address,
    smtp: { host, submission: { port: 587, security: "STARTTLS" }, submissions: { port: 465, security: "TLS" } },
    imap: { host, port: 993, security: "TLS" },
  };
}
