/**
 * MailuBackup: scheduled, encrypted, incremental backups of one server's
 * MailU data with restic, installed over SSH as its own step
 * (`<server>-mailu-backup`) before MailU starts, so that a rebuilt server gets
 * its newest snapshot back before its containers come up.
 *
 * Each server has its own restic repository under the stack's
 * `backup.repository` (`<repository>/<tenant>/<server>`) and its own
 * repository password from @pulumi/random: secret in state, on the server
 * only in a root-only file, masked in any output. The password lives in the
 * stack's state alone, so the state backups (`fleet backup-state`) are what
 * keeps the server backups readable.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { z } from "zod";
import { Command, Connection } from "../providers/ssh";
import { BackupConfigError, BackupFiles, backupFiles, backupStepScript } from "./backup-scripts";
import { WRITE_FILES, fileBundle } from "./mailu-scripts";

/** The stack setting `penguinmails-infra:backup`. */
export const backupSettingsSchema = z
  .object({
    /**
     * restic's repository URL for this stack's servers: `s3:https://<endpoint>/<bucket>[/prefix]` (S3-compatible,
     * the production default), `rest:https://[user:password@]<host>/[prefix/]` (restic's REST server) or
     * `sftp:<user>@<host>:/<path>`. Each server gets `<repository>/<tenant>/<server>`.
     */
    repository: z
      .string()
      .regex(/^(s3|rest|sftp|b2|azure|gs|swift|rclone|local):\S+$/, "must be a restic repository URL (s3:…, rest:…, sftp:…)"),
    /** systemd OnCalendar expression (default daily at 03:00, spread over 30 minutes). */
    schedule: z.string().default("*-*-* 03:00:00"),
    keepDaily: z.number().int().min(1).max(366).default(7),
    keepWeekly: z.number().int().min(0).max(520).default(4),
    keepMonthly: z.number().int().min(0).max(240).default(6),
    /** verify fails when a server's newest snapshot is older than this. */
    maxAgeHours: z.number().positive().default(26),
  })
  .strict();
export type BackupSettings = z.infer<typeof backupSettingsSchema>;

/** The backend's credentials (`penguinmails-infra:backupEnv`, secret), e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3. */
export const backupEnvSchema = z.record(z.string(), z.string());

/** Reads and checks the stack's backup settings; every problem in one error naming the key. */
export function parseBackupSettings(
  stack: string,
  raw: unknown,
  envRaw: unknown,
): { settings: BackupSettings; env: Record<string, string> } {
  const s = backupSettingsSchema.safeParse(raw);
  const e = backupEnvSchema.safeParse(envRaw ?? {});
  const problems = [
    ...(s.success
      ? []
      : s.error.issues.map((i) => `penguinmails-infra:backup${i.path.length ? `.${i.path.join(".")}` : ""}: ${i.message}`)),
    ...(e.success ? [] : ["penguinmails-infra:backupEnv: must be an object of environment variables (names to strings)"]),
  ];
  if (problems.length) throw new BackupConfigError(`stack ${stack}: ${problems.join("; ")}`);
  return { settings: s.data!, env: e.data! };
}

/** A URL with a password in it (rest:https://user:password@host/) must be secret config. */
export const repositoryHasPassword = (repository: string) => /:\/\/[^/@\s]*:[^/@\s]*@/.test(repository);

/** The repository of one server. */
export const serverRepository = (base: string, tenant: string, server: string) =>
  `${base.replace(/\/+$/, "")}/${tenant}/${server}${base.startsWith("rest:") ? "/" : ""}`;

export interface MailuBackupArgs {
  tenant: string;
  server: string;
  /** The server's host name: snapshots are filed under it. */
  hostname: string;
  connection: pulumi.Input<Connection>;
  settings: BackupSettings;
  /** Secret: the backend's credentials. */
  env: pulumi.Input<Record<string, string>>;
  /** Values to mask (the connection's password, generated secrets). */
  redact?: pulumi.Input<string>[];
  /** A change runs the step again (a reinstalled server: its newest snapshot is restored). */
  triggers?: pulumi.Input<unknown[]>;
}

export class MailuBackup extends pulumi.ComponentResource {
  readonly command: Command;
  /** Secret: the repository password. */
  readonly password: pulumi.Output<string>;
  /** The server's repository, without any password its URL carries (plain in state). */
  readonly repository: string;
  /** Secret: the repository URL as restic opens it. */
  readonly repositoryUrl: pulumi.Output<string>;

  constructor(name: string, args: MailuBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("penguinmails:mail:MailuBackup", name, {}, opts);
    const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this });
    this.password = password.result;
    const repository = serverRepository(args.settings.repository, args.tenant, args.server);
    this.repository = repository.replace(/:\/\/[^/@]*@/, "://");
    this.repositoryUrl = pulumi.secret(repository);
    const files = pulumi.all([password.result, args.env]).apply(([pw, env]) => {
      const f: BackupFiles = {
        repository,
        password: pw,
        env,
        host: args.hostname,
        schedule: args.settings.schedule,
        keepDaily: args.settings.keepDaily,
        keepWeekly: args.settings.keepWeekly,
        keepMonthly: args.settings.keepMonthly,
      };
      return fileBundle(backupFiles(f));
    });
    const envValues = pulumi.output(args.env).apply((e) => Object.values(e).filter((v) => v.length >= 4));
    this.command = new Command(
      `${name}`,
      {
        description: `backups of MailU's data on ${args.server} (${args.tenant})`,
        connection: args.connection,
        create: backupStepScript(WRITE_FILES, args.hostname),
        stdin: pulumi.secret(files),
        redact: pulumi.all([password.result, envValues, pulumi.all(args.redact ?? [])]).apply(([pw, ev, r]) => [pw, ...ev, ...r]),
        ...(args.triggers ? { triggers: args.triggers } : {}),
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.registerOutputs({ repository: this.repository });
  }
}
