/**
 * MailU's front (nginx) as far as MTA-STS goes: an HTTPS server on loopback
 * that answers GET /.well-known/mta-sts.txt the way nginx runs the override
 * file the install wrote (`/mailu/overrides/nginx/mta-sts.conf`, read fresh on
 * every request through `config`):
 *   - `location = /.well-known/mta-sts.txt { default_type T; return 200 "TEXT"; }`:
 *     ngx_http_rewrite_module's `return code [text]` answers with the text as
 *     the body, typed by `default_type` (nginx docs, ngx_http_rewrite_module,
 *     ngx_http_core_module default_type);
 *   - inside a quoted string nginx's config parser turns `\"`, `\'`, `\\`, `\t`,
 *     `\r`, `\n` into the characters (src/core/ngx_conf_file.c, ngx_conf_read_token);
 *   - no such location (or no file): 404, as nginx answers for a file it lacks.
 * The certificate is the one the test makes for mta-sts.<domain> (MailU gets it
 * from Let's Encrypt because mta-sts.<domain> is among HOSTNAMES).
 */
import * as https from "https";
import { AddressInfo } from "net";
import type { KeyAndCert } from "./smtp";

/** nginx's unescaping of a quoted config string (ngx_conf_read_token). */
export function nginxUnquote(s: string): string {
  return s.replace(/\\(["'\\trn])/g, (_, c: string) => ({ t: "\t", r: "\r", n: "\n" })[c] ?? c);
}

/** The answer nginx gives for /.well-known/mta-sts.txt under this override file, or undefined (404). */
export function mtaStsAnswer(conf: string | undefined): { type: string; body: string } | undefined {
  const block = conf && /location\s*=\s*\/\.well-known\/mta-sts\.txt\s*\{([\s\S]*?)\n\s*\}/.exec(conf)?.[1];
  if (!block) return undefined;
  const ret = /return\s+200\s+"((?:[^"\\]|\\.)*)"\s*;/.exec(block);
  if (!ret) return undefined;
  const type = /default_type\s+([^;\s]+)\s*;/.exec(block)?.[1] ?? "application/octet-stream";
  return { type, body: nginxUnquote(ret[1]) };
}

export class MailuFrontSim {
  private server?: https.Server;
  /** Requests seen, by path. */
  readonly requests: string[] = [];

  constructor(private o: { certificate: KeyAndCert; config: () => string | undefined; host?: string }) {}

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async start(): Promise<this> {
    this.server = https.createServer({ key: this.o.certificate.key, cert: this.o.certificate.cert }, (req, res) => {
      this.requests.push(req.url ?? "");
      const answer = req.method === "GET" && req.url === "/.well-known/mta-sts.txt" ? mtaStsAnswer(this.o.config()) : undefined;
      if (!answer) {
        res.writeHead(404, { "content-type": "text/html" });
        return res.end("<html><body><h1>404 Not Found</h1></body></html>");
      }
      res.writeHead(200, { "content-type": answer.type });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, this.o.host ?? "127.0.0.1", () => resolve()));
    return this;
  }

  async stop(): Promise<void> {
    if (this.server) await new Promise((r) => this.server!.close(r));
  }
}
