/**
 * HashiCorp Vault's transit secrets engine on loopback: what Pulumi's `hashivault://<key>` secrets
 * provider talks to. The tests' stacks use it instead of the development passphrase, because a
 * passphrase stack costs every `pulumi` process a PBKDF2 of 1,000,000 rounds (~0.28 s of CPU on this
 * machine) to open, and the suite starts thousands of them; a `hashivault://` stack costs one HTTP
 * call (the stack's data key, decrypted once per process).
 *
 * The wire, from public sources:
 *   - Pulumi's cloud secrets manager (pulumi/pulumi pkg/secrets/cloud/manager.go) opens the key with
 *     gocloud.dev, which for `hashivault://` (gocloud.dev/secrets/hashivault vault.go) reads
 *     VAULT_SERVER_URL or VAULT_ADDR and VAULT_SERVER_TOKEN or VAULT_TOKEN, and calls the Vault API
 *     client's `Logical().Write("transit/encrypt/<key>", {plaintext})` and
 *     `Write("transit/decrypt/<key>", {ciphertext})`; the `engine` query parameter names another mount.
 *   - The Vault API client (hashicorp/vault api/logical.go) sends a Write as `PUT /v1/<path>` with
 *     the token in `X-Vault-Token`, and reads the answer's `data` (api/secret.go); errors are
 *     `{"errors": [...]}` with a 4xx status (Vault HTTP API docs, "Error response").
 *   - Vault's transit API docs ("Encrypt data", "Decrypt data"): `plaintext` is base64; the answer
 *     is `{"data": {"ciphertext": "vault:v1:…", "key_version": 1}}` and, for decrypt,
 *     `{"data": {"plaintext": "<base64>"}}`; encrypting with a key that does not exist creates it
 *     (upsert); decrypting with one answers 400 "encryption key not found". Keys are AES-256-GCM96
 *     by default; the ciphertext after `vault:v1:` is base64 of nonce, ciphertext and tag.
 *
 * Development only, like the development passphrase: each key is derived from its name and a fixed
 * seed in this file, so a stack made in one test run opens in the next (the dev backends persist
 * under `.pulumi-dev/`), and every key name exists (the "not found" answer is never given). A real tenant's stack never uses it (scripts/lib/engine/secrets.ts).
 */
import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

const DEV_SEED = "penguinmails-dev-only-vault-transit";
const PREFIX = "vault:v1:";

export interface VaultTransitOptions {
  /** The token a caller must send (`X-Vault-Token`). */
  token: string;
  /** The transit engine's mount (the URL's `engine` parameter; default `transit`). */
  mount?: string;
}

export class VaultTransitSim {
  /** Encrypt and decrypt calls answered so far (what a test or bench counts). */
  calls = { encrypt: 0, decrypt: 0 };
  private server?: http.Server;
  private keys = new Map<string, Buffer>();

  constructor(private o: VaultTransitOptions) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** What a `pulumi` process needs to reach this server (the variables gocloud.dev reads). */
  env(): Record<string, string> {
    return { VAULT_ADDR: this.url, VAULT_TOKEN: this.o.token };
  }

  /** The `--secrets-provider` URL for a key. */
  static providerUrl(key: string): string {
    return `hashivault://${key}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const answer = this.answer(req, Buffer.concat(chunks).toString("utf8"));
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
  }

  private answer(req: http.IncomingMessage, text: string): { status: number; body: unknown } {
    const fail = (status: number, ...errors: string[]) => ({ status, body: { errors } });
    if (req.headers["x-vault-token"] !== this.o.token) return fail(403, "permission denied");
    const mount = this.o.mount ?? "transit";
    const m = new RegExp(`^/v1/${mount}/(encrypt|decrypt)/([^/?]+)$`).exec((req.url ?? "").split("?")[0]);
    if (!m) return fail(404, `no handler for route "${req.url}"`);
    if (req.method !== "PUT" && req.method !== "POST") return fail(405, "unsupported operation");
    let body: { plaintext?: unknown; ciphertext?: unknown };
    try {
      body = JSON.parse(text || "{}");
    } catch {
      return fail(400, "failed to parse JSON input");
    }
    const [, op, key] = m;
    if (op === "encrypt") {
      if (typeof body.plaintext !== "string") return fail(400, "missing plaintext to encrypt");
      this.calls.encrypt++;
      return { status: 200, body: { data: { ciphertext: this.encrypt(key, Buffer.from(body.plaintext, "base64")), key_version: 1 } } };
    }
    if (typeof body.ciphertext !== "string") return fail(400, "missing ciphertext to decrypt");
    const plaintext = this.decrypt(key, body.ciphertext);
    if (!plaintext) return fail(400, "invalid ciphertext: unable to decrypt");
    this.calls.decrypt++;
    return { status: 200, body: { data: { plaintext: plaintext.toString("base64") } } };
  }

  private keyOf(name: string): Buffer {
    let k = this.keys.get(name);
    if (!k) this.keys.set(name, (k = crypto.createHash("sha256").update(`${DEV_SEED}:${name}`).digest()));
    return k;
  }

  private encrypt(key: string, plaintext: Buffer): string {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", this.keyOf(key), nonce);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return PREFIX + sealed.toString("base64");
  }

  private decrypt(key: string, ciphertext: string): Buffer | undefined {
    if (!ciphertext.startsWith(PREFIX)) return undefined;
    const sealed = Buffer.from(ciphertext.slice(PREFIX.length), "base64");
    if (sealed.length < 28) return undefined;
    try {
      const decipher = crypto.createDecipheriv("aes-256-gcm", this.keyOf(key), sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    } catch {
      return undefined;
    }
  }
}
