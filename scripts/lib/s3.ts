/**
 * Reading an S3 bucket (AWS S3 or an S3-compatible server) from Node without an SDK: listing keys
 * (ListObjectsV2) and getting objects (GetObject), each request signed with AWS Signature Version 4
 * (AWS docs, "Authenticating Requests: Using the Authorization Header (AWS Signature Version 4)"
 * and "Signature Calculations for the Authorization Header: Transferring Payload in a Single
 * Chunk"; test/unit/s3.test.ts checks the signer against that page's GET Object example).
 *
 * A bucket is named by the URL Pulumi's DIY backend takes (Pulumi docs, "Using a DIY Backend",
 * AWS S3: `s3://<bucket-name>[/<folders>]`, and for an S3-compatible server
 * `s3://<bucket-name>?endpoint=my.minio.local:8080&disableSSL=true&s3ForcePathStyle=true`), read
 * as the CLI reads it (pkg/backend/diy/backend.go translateLegacyS3Params, then gocloud.dev's
 * s3blob and aws.V2ConfigFromURLParams): `endpoint` with or without a scheme (none: https, or
 * http with `disableSSL=true`/`disable_https=true`), `s3ForcePathStyle`/`use_path_style` for
 * path-style requests (else virtual-hosted), `region` (else AWS_REGION, AWS_DEFAULT_REGION,
 * us-east-1), `profile` (else AWS_PROFILE) and `anonymous=true`.
 *
 * Credentials, as the AWS SDK's default chain starts: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (and AWS_SESSION_TOKEN) from the environment, else the profile's static keys in the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials); a profile named in
 * the URL or AWS_PROFILE wins over the environment's keys ([assumed] to match the SDK v2 chain).
 * Roles, SSO and
 * instance metadata are not read here: `s3Credentials` answers undefined and callers fall back to
 * the CLI.
 */
import { createHash, createHmac } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Where a bucket is and how to address it. */
export interface S3Location {
  bucket: string;
  /** Key prefix under the bucket (the URL's path, "" or ending in "/"). */
  prefix: string;
  /** scheme://host[:port] of the service (AWS: https://s3.<region>.amazonaws.com). */
  endpoint: string;
  region: string;
  pathStyle: boolean;
  profile?: string;
  anonymous: boolean;
}

const truthy = (v: string | null) => v !== null && /^(1|t|true)$/i.test(v);

/** The bucket, prefix and addressing of a Pulumi `s3://` backend URL. */
export function s3Location(url: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  const m = /^s3:\/\/([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (!m) throw new Error("PULUMI_BACKEND_URL: not an s3://<bucket>[/<folders>][?endpoint=…] URL");
  const q = new URLSearchParams(m[3] ?? "");
  const region = q.get("region") ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1";
  const insecure = truthy(q.get("disableSSL")) || truthy(q.get("disable_https"));
  let endpoint = q.get("endpoint") ?? `https://s3.${region}.amazonaws.com`;
  if (!endpoint.includes("://")) endpoint = `${insecure ? "http" : "https"}://${endpoint}`;
  else if (insecure) endpoint = endpoint.replace(/^https:/, "http:");
  const sub = decodeURIComponent(m[2] ?? "").replace(/^\/+/, "");
  return {
    bucket: m[1],
    prefix: sub ? (sub.endsWith("/") ? sub : `${sub}/`) : "",
    endpoint: endpoint.replace(/\/+$/, ""),
    region,
    pathStyle: truthy(q.get("s3ForcePathStyle")) || truthy(q.get("use_path_style")),
    profile: q.get("profile") ?? env.AWS_PROFILE ?? undefined,
    anonymous: truthy(q.get("anonymous")),
  };
}

/** Static credentials from the environment, else the profile's in the shared credentials file; undefined when neither has them. */
export function s3Credentials(profile?: string, env: NodeJS.ProcessEnv = process.env): S3Credentials | undefined {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && !profile)
    return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN };
  const file = env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(env.HOME ?? os.homedir(), ".aws", "credentials");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const want = profile ?? "default";
  let section = "";
  const keys: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const head = /^\s*\[\s*([^\]]+?)\s*\]\s*$/.exec(line);
    if (head) section = head[1];
    else if (section === want) {
      const kv = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (kv) keys[kv[1].toLowerCase()] = kv[2];
    }
  }
  if (!keys.aws_access_key_id || !keys.aws_secret_access_key) return undefined;
  return { accessKeyId: keys.aws_access_key_id, secretAccessKey: keys.aws_secret_access_key, sessionToken: keys.aws_session_token };
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and "/" when asked). */
const uriEncode = (s: string, keepSlash: boolean) =>
  Array.from(Buffer.from(s, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === "/") ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * The headers that sign one S3 request with SigV4 (an empty payload): `host`, `x-amz-date`,
 * `x-amz-content-sha256`, `x-amz-security-token` when there is a session token, and Authorization.
 * `extra` headers are signed too.
 */
export function signS3Request(r: {
  method: string;
  url: URL;
  region: string;
  credentials: S3Credentials;
  date?: Date;
  extra?: Record<string, string>;
}): Record<string, string> {
  const amzDate = (r.date ?? new Date())
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const payload = sha256("");
  const headers: Record<string, string> = {
    host: r.url.host,
    "x-amz-content-sha256": payload,
    "x-amz-date": amzDate,
    ...(r.credentials.sessionToken ? { "x-amz-security-token": r.credentials.sessionToken } : {}),
  };
  for (const [k, v] of Object.entries(r.extra ?? {})) headers[k.toLowerCase()] = v.trim();
  const names = Object.keys(headers).sort();
  const query = [...r.url.searchParams]
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonical = [
    r.method,
    uriEncode(decodeURIComponent(r.url.pathname), true),
    query,
    names.map((n) => `${n}:${headers[n]}\n`).join(""),
    names.join(";"),
    payload,
  ].join("\n");
  const scope = `${day}/${r.region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${r.credentials.secretAccessKey}`, day), r.region), "s3"), "aws4_request");
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${r.credentials.accessKeyId}/${scope},SignedHeaders=${names.join(";")},Signature=${signature}`,
  };
}

const xmlText = (s: string) =>
  s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec
      ? String.fromCodePoint(Number(dec))
      : hex
        ? String.fromCodePoint(parseInt(hex, 16))
        : ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" } as Record<string, string>)[name],
  );

export class S3Error extends Error {
  override readonly name = "S3Error";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** One bucket read through the S3 REST API (list and get only). */
export class S3Bucket {
  constructor(
    readonly at: S3Location,
    private readonly credentials: S3Credentials | undefined,
  ) {}

  /** The URL of a key (path-style or virtual-hosted). */
  urlOf(key: string, query: Record<string, string> = {}): URL {
    const base = new URL(this.at.endpoint);
    const u = this.at.pathStyle
      ? new URL(`${base.origin}/${uriEncode(this.at.bucket, false)}${key ? `/${uriEncode(key, true)}` : ""}`)
      : new URL(`${base.protocol}//${this.at.bucket}.${base.host}/${uriEncode(key, true)}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  private async request(url: URL): Promise<Response> {
    const headers =
      this.at.anonymous || !this.credentials
        ? {}
        : signS3Request({ method: "GET", url, region: this.at.region, credentials: this.credentials });
    delete (headers as Record<string, string>).host;
    // Signed as encoded above: the URL is passed as text so fetch does not re-encode it.
    return fetch(url.toString(), { headers, signal: AbortSignal.timeout(60_000) });
  }

  private async fail(res: Response, what: string): Promise<never> {
    const body = await res.text().catch(() => "");
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const msg = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    throw new S3Error(
      `S3 ${what} in bucket ${this.at.bucket} at ${this.at.endpoint}: HTTP ${res.status}${code ? ` ${code}` : ""}${msg ? `: ${xmlText(msg)}` : ""}`,
      res.status,
    );
  }

  /** Every key under a prefix (relative to the location's prefix), at any depth. */
  async keys(sub: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const url = this.urlOf("", { "list-type": "2", prefix: this.at.prefix + sub, ...(token ? { "continuation-token": token } : {}) });
      const res = await this.request(url);
      if (!res.ok) await this.fail(res, `listing ${this.at.prefix + sub}`);
      const xml = await res.text();
      for (const m of xml.matchAll(/<Contents>[\s\S]*?<Key>([^<]*)<\/Key>[\s\S]*?<\/Contents>/g))
        out.push(xmlText(m[1]).slice(this.at.prefix.length));
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
        ? xmlText(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? "") || undefined
        : undefined;
    } while (token);
    return out;
  }

  /** The bytes of a key (relative to the location's prefix), or undefined when there is none. */
  async get(key: string): Promise<Buffer | undefined> {
    const res = await this.request(this.urlOf(this.at.prefix + key));
    if (res.status === 404) return undefined;
    if (!res.ok) await this.fail(res, `reading ${this.at.prefix + key}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** The bytes of those keys that exist, `concurrency` requests at a time. */
  async getMany(keys: string[], concurrency = 16): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const k = keys[next++];
        const b = await this.get(k);
        if (b) out.set(k, b);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    return out;
  }
}
