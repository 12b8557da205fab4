/**
 * Mailboxes: the sending accounts a tenant's users log in to over SMTP submission (and IMAP), one
 * MailU user each, declared per domain in the tenant config. Here are their shape, the local parts
 * MailU takes, and the pure diff that decides what one apply changes in MailU (only what differs).
 */
import { z } from "zod";

/**
 * The local parts MailU's admin takes for a user (2024.06 core/admin/mailu/ui/forms.py
 * LOCALPART_REGEX: RFC 5322 dot-atom characters), lowercase as MailU stores them (models.py
 * IdnaEmail lowercases every address), at most 64 characters (RFC 5321 §4.5.3.1.1; MailU's column
 * holds 80).
 */
export const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
export const MAX_LOCAL_PART = 64;
/**
 * Local parts the stack itself uses on every domain: the postmaster account and the DMARC and
 * TLS-RPT report aliases (components/mailu-scripts.ts). A mailbox of that name would clash in MailU.
 */
export const RESERVED_LOCAL_PARTS = ["admin", "dmarc-reports", "tls-reports"] as const;
export const DEFAULT_QUOTA_MB = 1024;
const MB = 1024 * 1024;

/** Why MailU would refuse this local part, or undefined when it takes it. */
export function localPartProblem(local: string): string | undefined {
  if (local.length === 0) return "expected a local part (the text before @)";
  if (local.length > MAX_LOCAL_PART) return `expected at most ${MAX_LOCAL_PART} characters`;
  if (local !== local.toLowerCase()) return "expected lowercase (MailU stores addresses lowercase)";
  if (!LOCAL_PART.test(local))
    return "expected letters, digits and !#$%&'*+/=?^_`{|}~- in dot-separated parts (no spaces, quotes or @; no leading, trailing or double dot)";
  if ((RESERVED_LOCAL_PARTS as readonly string[]).includes(local))
    return `expected a local part the stack does not use itself (${RESERVED_LOCAL_PARTS.join(", ")} are the postmaster and report addresses)`;
  return undefined;
}

export const localPart = z.string({ error: "expected a local part (text)" }).superRefine((v, ctx) => {
  const bad = localPartProblem(v);
  if (bad) ctx.addIssue({ code: "custom", message: bad });
});

export const mailboxSchema = z
  .object({
    localPart,
    quotaMb: z
      .number({ error: "expected a whole number of megabytes" })
      .int("expected a whole number of megabytes")
      .min(1, "expected at least 1 MB")
      .max(1024 * 1024, "expected at most 1048576 MB (1 TB)")
      .default(DEFAULT_QUOTA_MB),
    enabled: z.boolean({ error: "expected true or false" }).default(true),
    /** Raised by one to give the mailbox a new password (the `rotate` request); the password itself is never in the config. */
    rotation: z.number({ error: "expected a whole number" }).int("expected a whole number").min(0, "expected 0 or more").default(0),
  })
  .strict();
export type Mailbox = z.infer<typeof mailboxSchema>;

/** One mailbox as MailU holds it: its address, quota in bytes, and whether it may log in. */
export interface MailboxState {
  email: string;
  quotaBytes: number;
  enabled: boolean;
}

/** Every mailbox of the tenant's domains, as MailU users. */
export function mailboxStates(domains: Array<{ name: string; mailboxes?: Mailbox[] }>): Array<MailboxState & { rotation: number }> {
  return domains.flatMap((d) =>
    (d.mailboxes ?? []).map((m) => ({
      email: `${m.localPart}@${d.name}`,
      quotaBytes: m.quotaMb * MB,
      enabled: m.enabled,
      rotation: m.rotation,
    })),
  );
}

/** What one apply does in MailU: users to create or change (with their passwords) and users to delete. */
export interface MailboxPlan {
  upsert: Array<MailboxState & { password: string }>;
  remove: string[];
}

/**
 * The change from `olds` to `news` (each with its password by address): a mailbox new, or whose
 * quota, enabled flag or password changed, is upserted; one gone is removed; the rest untouched,
 * so a change of one mailbox of 250 sends one.
 */
export function planMailboxes(
  olds: MailboxState[],
  oldPasswords: Record<string, string>,
  news: MailboxState[],
  newPasswords: Record<string, string>,
): MailboxPlan {
  const before = new Map(olds.map((m) => [m.email, m]));
  const upsert = news
    .filter((m) => {
      const o = before.get(m.email);
      return !o || o.quotaBytes !== m.quotaBytes || o.enabled !== m.enabled || oldPasswords[m.email] !== newPasswords[m.email];
    })
    .map((m) => ({ ...m, password: newPasswords[m.email] ?? "" }));
  const still = new Set(news.map((m) => m.email));
  return { upsert, remove: olds.filter((m) => !still.has(m.email)).map((m) => m.email) };
}

/** Problems in one tenant's mailboxes across domains: the same local part twice on one domain. */
export function duplicateMailboxes(
  domains: Array<{ mailboxes?: Array<{ localPart?: unknown }> }>,
): Array<{ domain: number; index: number }> {
  const out: Array<{ domain: number; index: number }> = [];
  domains.forEach((d, i) => {
    const seen = new Set<unknown>();
    (Array.isArray(d?.mailboxes) ? d.mailboxes : []).forEach((m, j) => {
      if (typeof m?.localPart === "string" && seen.has(m.localPart)) out.push({ domain: i, index: j });
      seen.add(m?.localPart);
    });
  });
  return out;
}
