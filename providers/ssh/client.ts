/**
 * Runs one command on a host over SSH (ssh2, pure JavaScript) and returns its
 * exit code and output. A new server's sshd may not answer yet: refused or
 * timed-out connections are retried with backoff, a refused login is not.
 * Every text that leaves here (output, errors) has the secrets it was given
 * replaced by `[secret]`.
 */
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { backoffMs, sleep } from "../lib/retry";
import { scrub } from "../lib/secrets";

export interface SshConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  privateKey?: string;
}

export interface RunOptions {
  /** Written to the command's standard input, then closed. */
  stdin?: string;
  /** Values to mask in output and errors. */
  secrets?: string[];
  timeoutMs?: number;
  /** Connection attempts before giving up (a fresh server's sshd can take a minute). */
  dialAttempts?: number;
  dialTimeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Kept per stream: the tail is what explains a failure. */
const MAX_OUTPUT = 64 * 1024;

export class SshError extends Error {
  override readonly name = "SshError";
  constructor(
    message: string,
    readonly kind: "unreachable" | "auth" | "timeout" | "exit",
    readonly result?: RunResult,
  ) {
    super(message);
  }
}

const RETRYABLE =
  /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EADDRNOTAVAIL|Timed out while waiting for handshake|Connection lost before handshake/;

/**
 * ssh2, loaded on the first connection: a provider process loads this module to check and diff
 * `ssh.Command`s in every preview, which never connect (loading ssh2 took 77–83 ms of CPU at load ~4; issue 29).
 */
let ssh2: typeof import("ssh2") | undefined;
const loadSsh2 = () => (ssh2 ??= require("ssh2") as typeof import("ssh2"));

function connectOnce(conn: SshConnection, dialTimeoutMs: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new (loadSsh2().Client)();
    const cfg: ConnectConfig = {
      host: conn.host,
      port: conn.port,
      username: conn.user,
      readyTimeout: dialTimeoutMs,
      password: conn.password,
      privateKey: conn.privateKey,
      // Host keys are not pinned (as with command.remote.Command); the server was bought seconds ago.
      hostVerifier: () => true,
    };
    client.once("ready", () => resolve(client));
    client.once("error", (e) => {
      client.end();
      reject(e);
    });
    client.connect(cfg);
  });
}

export async function connect(
  conn: SshConnection,
  o: Pick<RunOptions, "dialAttempts" | "dialTimeoutMs" | "secrets"> = {},
): Promise<Client> {
  const attempts = o.dialAttempts ?? 10;
  const where = `${conn.user}@${conn.host}:${conn.port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOnce(conn, o.dialTimeoutMs ?? 15_000);
    } catch (e) {
      const msg = scrub((e as Error).message, o.secrets);
      if (/authentication methods failed|All configured authentication/i.test(msg)) {
        throw new SshError(
          `ssh ${where}: login refused (${conn.privateKey ? "private key" : "password"}); check the server's root password or penguinmails-infra:sshPrivateKey`,
          "auth",
        );
      }
      if (!RETRYABLE.test(msg) || attempt + 1 >= attempts) {
        throw new SshError(`ssh ${where}: could not connect after ${attempt + 1} attempt${attempt ? "s" : ""}: ${msg}`, "unreachable");
      }
      await sleep(500 + backoffMs(attempt, 1000, 10_000));
    }
  }
}

function append(buf: string, chunk: Buffer): string {
  const s = buf + chunk.toString("utf8");
  return s.length > MAX_OUTPUT ? s.slice(s.length - MAX_OUTPUT) : s;
}

/** Runs `command` with `bash -c` semantics of the remote login shell; never rejects for a non-zero exit. */
export async function run(conn: SshConnection, command: string, o: RunOptions = {}): Promise<RunResult> {
  const client = await connect(conn, o);
  const where = `${conn.user}@${conn.host}:${conn.port}`;
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      client.exec(command, (err: Error | undefined, ch: ClientChannel) => {
        if (err) return reject(new SshError(`ssh ${where}: ${scrub(err.message, o.secrets)}`, "unreachable"));
        let stdout = "";
        let stderr = "";
        let code: number | undefined;
        const timer = setTimeout(
          () => {
            ch.close();
            reject(new SshError(`ssh ${where}: the command did not finish within ${Math.round((o.timeoutMs ?? 0) / 1000)} s`, "timeout"));
          },
          o.timeoutMs ?? 20 * 60_000,
        );
        ch.on("data", (d: Buffer) => {
          stdout = append(stdout, d);
        });
        ch.stderr.on("data", (d: Buffer) => {
          stderr = append(stderr, d);
        });
        ch.on("exit", (c: number | null) => {
          code = c ?? 255;
        });
        ch.on("close", () => {
          clearTimeout(timer);
          resolve({ code: code ?? 255, stdout: scrub(stdout, o.secrets), stderr: scrub(stderr, o.secrets) });
        });
        ch.end(o.stdin ?? "");
      });
    });
  } finally {
    client.end();
  }
}
