/**
 * MailU's admin as far as DKIM signing goes, run inside an SSH-host stand-in (its own network
 * namespace) by ../mailu-submission.ts: the two internal routes MailU 2024.06's rspamd asks admin
 * (core/admin/mailu/internal/views/rspamd.py at tag 2024.06.57):
 *   - GET /internal/rspamd/local_domains: MailU's domains, one a line (rspamd's start.py waits for it);
 *   - GET /internal/rspamd/vault/v1/dkim/<domain>: `{"data":{"selectors":[{domain, key, selector}]}}`,
 *     the key being the PEM file at DKIM_PATH (`/dkim/{domain}.{selector}.key`, mailu.env) with the
 *     selector DKIM_SELECTOR; no selectors for a domain MailU lacks or has no key for (models.py
 *     Domain.dkim_key reads the file on each request).
 * The real admin needs its registry image; this reads what the install wrote: /mailu/mailu.env, the keys
 * under /mailu/dkim (MailU mounts it at /dkim), and MailU's domains as the MailU stand-in holds them.
 *
 * usage (inside the host): node mailu-admin-vault.js <address> <port>
 */
import * as fs from "fs";
import * as http from "http";
import { STATE_DIR } from "./host-tools";

const env = (): Record<string, string> =>
  Object.fromEntries(
    fs
      .readFileSync("/mailu/mailu.env", "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

const domains = (): string[] => {
  try {
    return (JSON.parse(fs.readFileSync(`${STATE_DIR}/compose-mailu.json`, "utf8")) as { domains?: string[] }).domains ?? [];
  } catch {
    return [];
  }
};

function answer(url: string): { status: number; body: string; type: string } {
  if (url === "/internal/rspamd/local_domains") return { status: 200, body: domains().join("\n"), type: "text/html; charset=utf-8" };
  const m = /^\/internal\/rspamd\/vault\/v1\/dkim\/([^/?]+)$/.exec(url);
  if (!m) return { status: 404, body: "", type: "text/html" };
  const domain = decodeURIComponent(m[1]).toLowerCase();
  const e = env();
  const selector = e.DKIM_SELECTOR || "dkim";
  const keyPath = (e.DKIM_PATH || "/dkim/{domain}.{selector}.key")
    .replace("{domain}", domain)
    .replace("{selector}", selector)
    .replace(/^\/dkim\//, "/mailu/dkim/");
  const selectors =
    domains().includes(domain) && fs.existsSync(keyPath) ? [{ domain, key: fs.readFileSync(keyPath, "utf8"), selector }] : [];
  return { status: 200, body: JSON.stringify({ data: { selectors } }), type: "application/json" };
}

if (require.main === module) {
  const [address, port] = process.argv.slice(2);
  http
    .createServer((req, res) => {
      const a = req.method === "GET" ? answer(req.url ?? "") : { status: 405, body: "", type: "text/html" };
      res.writeHead(a.status, { "content-type": a.type });
      res.end(a.body);
    })
    .listen(Number(port), address);
}
