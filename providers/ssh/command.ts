/**
 * The implementation behind `ssh.Command` (loaded lazily by the provider
 * process), shaped like command.remote.Command: `create` runs on create,
 * `update` (or `create`) when the script, its stdin or its triggers change,
 * `delete` on delete. Changing only the connection's credentials, the delete
 * script or the secrets to mask is stored without running anything. A new
 * host (the server was replaced) replaces the command.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkInputs, compact } from "../lib/dynamic";
import { SshError, run } from "./client";
import { scrub } from "../lib/secrets";

export const connectionSchema = z
  .object({
    host: z.string().min(1, "must be the server's address"),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default("root"),
    password: z.string().optional(),
    privateKey: z.string().optional(),
  })
  .refine((c) => c.password || c.privateKey, { message: "needs a password or a privateKey" });

export const commandInputsSchema = z.object({
  /** What the command is, for messages: e.g. "MailU files on mx1 (acme)". */
  description: z.string().min(1),
  connection: connectionSchema,
  create: z.string().min(1, "must be a script"),
  update: z.string().optional(),
  delete: z.string().optional(),
  stdin: z.string().optional(),
  triggers: z.array(z.unknown()).default([]),
  /** Secret values to mask in output and errors (stdin's secrets, generated passwords). */
  redact: z.array(z.string()).default([]),
  timeoutSeconds: z.number().int().min(1).default(1200),
});
export type CommandInputs = z.infer<typeof commandInputsSchema>;
export interface CommandOutputs extends CommandInputs {
  stdout: string;
  stderr: string;
}

/** What, when changed, runs the command again. */
const RERUN = ["create", "update", "stdin"] as const;

const secretsOf = (i: CommandInputs) => [
  ...i.redact,
  ...(i.connection.password ? [i.connection.password] : []),
  ...(i.connection.privateKey ? [i.connection.privateKey] : []),
];

async function execute(
  i: CommandInputs,
  script: string,
  step: "create" | "update" | "delete",
): Promise<{ stdout: string; stderr: string }> {
  const secrets = secretsOf(i);
  const where = `${i.connection.user}@${i.connection.host}`;
  const r = await run(i.connection, script, { stdin: i.stdin, secrets, timeoutMs: i.timeoutSeconds * 1000 }).catch((e: unknown) => {
    throw e instanceof SshError ? new Error(`${i.description}: ${e.message}`) : e;
  });
  if (r.code !== 0) {
    const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new Error(`${i.description}: the ${step} script on ${where} exited with ${r.code}:\n${scrub(tail, secrets)}`);
  }
  return { stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

export const provider: pulumi.dynamic.ResourceProvider<CommandInputs, CommandOutputs> = {
  async check(_olds, news) {
    return checkInputs(commandInputsSchema, `ssh.Command ${news.description ?? ""}`.trim(), news);
  },
  async diff(_id, olds, news) {
    const replaces = olds.connection.host !== news.connection.host ? ["connection"] : [];
    const rerun = RERUN.some((k) => olds[k] !== news[k]) || JSON.stringify(olds.triggers ?? []) !== JSON.stringify(news.triggers ?? []);
    const stored =
      JSON.stringify({ ...olds.connection, host: "" }) !== JSON.stringify({ ...news.connection, host: "" }) ||
      olds.delete !== news.delete ||
      olds.description !== news.description ||
      olds.timeoutSeconds !== news.timeoutSeconds ||
      JSON.stringify(olds.redact ?? []) !== JSON.stringify(news.redact ?? []);
    return { changes: replaces.length > 0 || rerun || stored, replaces, deleteBeforeReplace: false };
  },
  async create(inputs) {
    const out = await execute(inputs, inputs.create, "create");
    return { id: `${inputs.connection.host}:${inputs.description}`, outs: compact({ ...inputs, ...out }) };
  },
  async update(_id, olds, news) {
    const rerun = RERUN.some((k) => olds[k] !== news[k]) || JSON.stringify(olds.triggers ?? []) !== JSON.stringify(news.triggers ?? []);
    if (!rerun) return { outs: compact({ ...news, stdout: olds.stdout, stderr: olds.stderr }) };
    const out = await execute(news, news.update ?? news.create, "update");
    return { outs: compact({ ...news, ...out }) };
  },
  async read(id, props) {
    return { id, props };
  },
  async delete(_id, props) {
    if (props.delete) await execute(props, props.delete, "delete");
  },
};
