/**
 * How to reach one server of a tenant over SSH: the connection its MailU steps use, read from the
 * stack's state (the backup step by default), for `fleet backup|restore`, verify's HELO check and
 * offboarding's final backups.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { SshConnection } from "../../../providers/ssh/client";

export const COMMAND_TYPE = "pulumi-nodejs:dynamic/ssh:Command";

/** A secret in `pulumi stack export --show-secrets`: still wrapped in its signature object. */
function plain<T>(v: unknown): T {
  const o = v as { plaintext?: string };
  return (typeof v === "object" && v !== null && typeof o.plaintext === "string" ? JSON.parse(o.plaintext) : v) as T;
}

export interface StateResource {
  urn: string;
  type: string;
  outputs?: Record<string, unknown>;
}

/** The SSH connection of a server's backup step (or another of its MailU steps, e.g. `mailu-network`), from the stack's state. */
export async function serverConnection(
  stack: Stack,
  tenant: string,
  server: string,
  stepName = "mailu-backup",
): Promise<{ connection: SshConnection; redact: string[] }> {
  const state = await stack.exportStack();
  const resources = (state.deployment.resources ?? []) as StateResource[];
  const step = resources.find((r) => r.type === COMMAND_TYPE && r.urn.endsWith(`::${server}-${stepName}`));
  if (!step && stepName !== "mailu-backup")
    throw new Error(`tenant ${tenant}: server ${server} has no ${stepName} step in the stack's state (is MailU installed on it? run up)`);
  if (!step) {
    const servers = resources
      .filter((r) => r.type === COMMAND_TYPE && r.urn.endsWith("-mailu-backup"))
      .map((r) =>
        r.urn
          .split("::")
          .pop()!
          .replace(/-mailu-backup$/, ""),
      );
    throw new Error(
      `tenant ${tenant}: server ${server} has no backup step in the stack's state (servers with backups: ${servers.join(", ") || "none"}; set penguinmails-infra:backup and run up)`,
    );
  }
  const connection = plain<SshConnection>(step.outputs?.connection);
  const redact = plain<string[]>(step.outputs?.redact) ?? [];
  return { connection, redact };
}
