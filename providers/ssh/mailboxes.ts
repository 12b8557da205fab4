/**
 * The implementation behind `ssh.Mailboxes` (loaded lazily by the provider process): a server's
 * MailU mailboxes, kept in step with the config by MailU's declarative import. Each create,
 * update or delete is at most one SSH round trip, whatever the number of mailboxes: the
 * provider diffs the old and new lists (providers/model/mailboxes.ts) and sends only what
 * changed, as one `config-import --update` document on the script's standard input (never in
 * the script text or the command line). Nothing changed: nothing is run.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkInputs, compact } from "../lib/dynamic";
import { scrub } from "../lib/secrets";
import { MailboxPlan, MailboxState, planMailboxes } from "../model/mailboxes";
import { SshError, run } from "./client";
import { connectionSchema } from "./command";

const mailboxState = z.object({ email: z.string().min(3), quotaBytes: z.number().int().positive(), enabled: z.boolean() }).strict();

export const mailboxesInputsSchema = z.object({
  /** For messages: e.g. "mailboxes on mx1 (acme)". */
  description: z.string().min(1),
  connection: connectionSchema,
  /** Runs with the import document on stdin (components/mailu-scripts.ts mailboxImportScript). */
  script: z.string().min(1),
  mailboxes: z.array(mailboxState),
  /** Secret: each mailbox's password by address. */
  passwords: z.record(z.string(), z.string()),
  timeoutSeconds: z.number().int().min(1).default(600),
});
export type MailboxesInputs = z.infer<typeof mailboxesInputsSchema>;
export interface MailboxesOutputs extends MailboxesInputs {
  /** What the last run did: how many mailboxes it created or changed, and removed. */
  applied: { upserted: number; removed: number };
}

/** A YAML double-quoted scalar: JSON's string syntax is one (YAML 1.2 §7.3.1), for any text. */
const q = (s: string) => JSON.stringify(s);

/**
 * The `flask mailu config-import --update` document for a plan. Syntax as of MailU 2024.06 (the
 * version components/mailu-files.ts pins), docs/cli.rst "config-import": a `user` list keyed by
 * `email`; `password` with `hash_password: true` is a plain password MailU hashes itself (schemas.py
 * PasswordField, `hash_password`); `quota_bytes`, `enabled` as in the complete template; in update
 * mode an item `- -email: <address>` deletes that user ("Delete what? specific array object";
 * schemas.py keys starting with '-'). An unchanged plain password keeps the stored hash
 * (schemas.py `_add_instance`: "undo password change … when plain password did not change").
 */
export function importDocument(plan: MailboxPlan): string {
  const lines = ["user:"];
  for (const m of plan.upsert)
    lines.push(
      `  - email: ${q(m.email)}`,
      `    password: ${q(m.password)}`,
      "    hash_password: true",
      `    quota_bytes: ${m.quotaBytes}`,
      `    enabled: ${m.enabled}`,
    );
  for (const email of plan.remove) lines.push(`  - -email: ${q(email)}`);
  return lines.join("\n") + "\n";
}

const EMPTY: MailboxPlan = { upsert: [], remove: [] };
const none = (p: MailboxPlan) => p.upsert.length === 0 && p.remove.length === 0;
const secretsOf = (i: MailboxesInputs, extra: Record<string, string> = {}) => [
  ...Object.values(i.passwords),
  ...Object.values(extra),
  ...(i.connection.password ? [i.connection.password] : []),
  ...(i.connection.privateKey ? [i.connection.privateKey] : []),
];

/** One SSH round trip carrying the whole plan; throws naming the server, with secrets masked. */
async function apply(i: MailboxesInputs, plan: MailboxPlan, oldPasswords: Record<string, string> = {}): Promise<void> {
  if (none(plan)) return;
  const secrets = secretsOf(i, oldPasswords);
  const where = `${i.connection.user}@${i.connection.host}`;
  const r = await run(i.connection, i.script, { stdin: importDocument(plan), secrets, timeoutMs: i.timeoutSeconds * 1000 }).catch(
    (e: unknown) => {
      throw e instanceof SshError ? new Error(`${i.description}: ${e.message}`) : e;
    },
  );
  if (r.code !== 0) {
    const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new Error(
      `${i.description}: importing ${plan.upsert.length} mailbox change(s) and ${plan.remove.length} removal(s) on ${where} exited with ${r.code}:\n${scrub(tail, secrets)}`,
    );
  }
}

const states = (i: Pick<MailboxesInputs, "mailboxes">): MailboxState[] => i.mailboxes;
const counts = (p: MailboxPlan) => ({ upserted: p.upsert.length, removed: p.remove.length });

export const provider: pulumi.dynamic.ResourceProvider<MailboxesInputs, MailboxesOutputs> = {
  async check(_olds, news) {
    return checkInputs(mailboxesInputsSchema, `ssh.Mailboxes ${news.description ?? ""}`.trim(), news);
  },
  async diff(_id, olds, news) {
    const replaces = olds.connection.host !== news.connection.host ? ["connection"] : [];
    const plan = planMailboxes(states(olds), olds.passwords ?? {}, states(news), news.passwords);
    const stored =
      olds.script !== news.script ||
      olds.description !== news.description ||
      JSON.stringify({ ...olds.connection, host: "" }) !== JSON.stringify({ ...news.connection, host: "" });
    return { changes: replaces.length > 0 || !none(plan) || stored, replaces, deleteBeforeReplace: false };
  },
  async create(inputs) {
    const plan = planMailboxes([], {}, states(inputs), inputs.passwords);
    await apply(inputs, plan);
    return { id: `${inputs.connection.host}:mailboxes`, outs: compact({ ...inputs, applied: counts(plan) }) };
  },
  async update(_id, olds, news) {
    const plan = planMailboxes(states(olds), olds.passwords ?? {}, states(news), news.passwords);
    await apply(news, plan, olds.passwords);
    return { outs: compact({ ...news, applied: counts(plan) }) };
  },
  async read(id, props) {
    return { id, props };
  },
  async delete(_id, props) {
    await apply(props, { ...EMPTY, remove: props.mailboxes.map((m) => m.email) });
  },
};
