/**
 * `ssh.Command`: a script run on a server over SSH, the role
 * command.remote.Command plays (whose plugin cannot be built here; see the
 * README). The connection and the values to mask are secret in state, stdin when given as a secret;
 * output has those values replaced by `[secret]`.
 */
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../lib/dynamic-resource";

export const COMMAND_TYPE = "pulumi-nodejs:dynamic/ssh:Command";

export interface Connection {
  host: pulumi.Input<string>;
  /** Default 22. */
  port?: pulumi.Input<number>;
  /** Default root. */
  user?: pulumi.Input<string>;
  password?: pulumi.Input<string>;
  privateKey?: pulumi.Input<string>;
}

export interface CommandArgs {
  /** What the command is, for messages, e.g. "MailU files on mx1 (acme)". */
  description: pulumi.Input<string>;
  connection: pulumi.Input<Connection>;
  /** Run on create, and on update when there is no `update`. */
  create: pulumi.Input<string>;
  update?: pulumi.Input<string>;
  delete?: pulumi.Input<string>;
  /** Written to the script's standard input: the way to hand it secrets. */
  stdin?: pulumi.Input<string>;
  /** Any change here runs the command again. */
  triggers?: pulumi.Input<unknown[]>;
  /** Values masked as `[secret]` in output and errors. */
  redact?: pulumi.Input<pulumi.Input<string>[]>;
  /** Default 1200. */
  timeoutSeconds?: pulumi.Input<number>;
}

export class Command extends DynamicResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  constructor(name: string, args: CommandArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      "dist/providers/ssh/command",
      name,
      { stdout: undefined, stderr: undefined, ...args },
      {
        ...opts,
        // stdin stays secret in state when it was given as a secret (the engine carries an input's secrecy to the
        // output of the same name); plain stdin, such as a list of addresses, stays readable in a preview.
        additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "connection", "redact"],
      },
      "ssh",
      "Command",
    );
  }
}

export const MAILBOXES_TYPE = "pulumi-nodejs:dynamic/ssh:Mailboxes";

export interface MailboxesArgs {
  /** For messages, e.g. "mailboxes on mx1 (acme)". */
  description: pulumi.Input<string>;
  connection: pulumi.Input<Connection>;
  /** Runs once per create, update or delete, with MailU's import document on its stdin. */
  script: pulumi.Input<string>;
  mailboxes: pulumi.Input<Array<{ email: string; quotaBytes: number; enabled: boolean }>>;
  /** Secret: each mailbox's password by address. */
  passwords: pulumi.Input<Record<string, pulumi.Input<string>>>;
  timeoutSeconds?: pulumi.Input<number>;
}

/**
 * `ssh.Mailboxes`: a server's MailU mailboxes; each change is one SSH round trip carrying only the
 * mailboxes that changed (./mailboxes.ts). Passwords and the connection are secret in state.
 */
export class Mailboxes extends DynamicResource {
  declare readonly applied: pulumi.Output<{ upserted: number; removed: number }>;
  constructor(name: string, args: MailboxesArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      "dist/providers/ssh/mailboxes",
      name,
      { applied: undefined, ...args },
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "connection", "passwords"] },
      "ssh",
      "Mailboxes",
    );
  }
}
