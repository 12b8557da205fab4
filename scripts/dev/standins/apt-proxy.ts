/**
 * How the SSH-host stand-in's servers reach Debian's archive. Each host runs
 * in a network namespace of its own (its NIC, its addresses), which has no
 * route out; so apt there is pointed (`Acquire::http::Proxy`, RFC 9110
 * absolute-form requests) at 127.0.0.1:3142 inside the namespace, where a
 * small bridge process forwards each connection over a Unix socket (a path,
 * not bound to any network namespace) to this proxy, which fetches from the
 * archive hosts named in the root filesystem's sources.list and nothing
 * else. Packages (`pool/`, immutable by name) are kept on disk outside the
 * repo, so the next test run's `apt-get install` downloads nothing; index
 * files are always fetched. A real server has its own route to the archive.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";

export const APT_PROXY_PORT = 3142;

/** A process in a network namespace listening on 127.0.0.1:<port> there, piping each connection to a Unix socket. */
export function loopbackBridge(nsPid: number, port: number, socket: string): ChildProcess {
  const code = `const net=require("net");net.createServer(c=>{const u=net.connect(process.argv[1]);c.pipe(u).pipe(c);c.on("error",()=>u.destroy());u.on("error",()=>c.destroy())}).listen(${port},"127.0.0.1")`;
  const p = spawn("nsenter", ["-t", String(nsPid), "-n", "--", process.execPath, "-e", code, socket], { stdio: "ignore" });
  p.unref();
  return p;
}

export class AptProxy {
  private server?: http.Server;
  /** Numbers each download's temporary file: two hosts may fetch the same package at once. */
  private downloads = 0;

  constructor(
    /** Path of the Unix socket the proxy listens on. */
    readonly socket: string,
    /** Host names the proxy may fetch from (the archive's). */
    private readonly allowedHosts: string[],
    /** Where fetched packages are kept. */
    private readonly cacheDir: string,
  ) {}

  async start(): Promise<this> {
    fs.mkdirSync(path.dirname(this.socket), { recursive: true });
    fs.rmSync(this.socket, { force: true });
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.socket, () => resolve());
    });
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    fs.rmSync(this.socket, { force: true });
  }

  /** The bridge inside a network namespace: listens on 127.0.0.1:3142 there, forwards to the socket. */
  bridge(nsPid: number): ChildProcess {
    return loopbackBridge(nsPid, APT_PROXY_PORT, this.socket);
  }

  /**
   * Writes a package as it arrives to a file of its own, moved into the cache once it is whole
   * (every byte the archive announced, the answer not cut off); a cut-off one is removed, never
   * kept. Two downloads of one package each write their own file; the later move replaces the
   * earlier with the same bytes.
   */
  private keep(r: http.IncomingMessage, cached: string): void {
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    const tmp = `${cached}.${process.pid}-${++this.downloads}.part`;
    const announced = Number(r.headers["content-length"] ?? Number.NaN);
    const file = fs.createWriteStream(tmp);
    const drop = () => fs.rmSync(tmp, { force: true });
    file.on("error", drop);
    // Cut off: the pipe never ends the file, so it is closed and removed here.
    r.on("close", () => {
      if (!r.complete) file.destroy();
    });
    file.on("close", () => {
      if (!r.complete) drop();
    });
    file.on("finish", () => {
      const whole = r.complete && (Number.isNaN(announced) || file.bytesWritten === announced);
      try {
        if (whole) fs.renameSync(tmp, cached);
        else drop();
      } catch {
        drop();
      }
    });
    r.pipe(file);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end("absolute URL expected (an HTTP proxy request)\n");
      return;
    }
    if (url.protocol !== "http:" || !this.allowedHosts.includes(url.hostname) || req.method !== "GET") {
      res.writeHead(403).end(`the stand-in's apt proxy fetches only GET http://{${this.allowedHosts.join(",")}}/…\n`);
      return;
    }
    const cacheable = url.pathname.includes("/pool/") && url.pathname.endsWith(".deb") && !url.pathname.includes("..");
    const cached = path.join(this.cacheDir, url.hostname, url.pathname);
    if (cacheable && fs.existsSync(cached)) {
      res.writeHead(200, { "content-type": "application/vnd.debian.binary-package", "content-length": fs.statSync(cached).size });
      fs.createReadStream(cached).pipe(res);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: url.host };
    delete headers["proxy-connection"];
    const up = http.get(url, { headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      if (cacheable && r.statusCode === 200) this.keep(r, cached);
      // An answer the archive cuts off is cut off for apt too (a pipe would leave it waiting).
      r.on("close", () => {
        if (!r.complete) res.destroy();
      });
      r.pipe(res);
    });
    up.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`${e.message}\n`);
    });
  }
}
