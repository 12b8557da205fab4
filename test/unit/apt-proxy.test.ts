/**
 * The SSH-host stand-in's apt proxy (scripts/dev/standins/apt-proxy.ts) on a cold package cache:
 * two hosts fetching the same package at once (the backup test's two lanes install the same
 * packages) each get all of it and the cache keeps one whole copy; a download the archive cuts off
 * is never kept. An archive on loopback plays Debian's: it answers each package only once both
 * requests for it have arrived, so the two downloads overlap by construction, not by timing.
 */
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { AptProxy } from "../../scripts/dev/standins/apt-proxy";

const PACKAGE = "/debian/pool/main/f/fonts-lato/fonts-lato_2.015-1_all.deb";
const BODY = Buffer.alloc(2 * 1024 * 1024, "deb");

let dir: string;
let archive: http.Server;
let port: number;
let proxy: AptProxy;
/** Requests held until `waitFor` of them have arrived; then each is answered by `answer`. */
let held: http.ServerResponse[] = [];
let waitFor = 2;
let answer: (res: http.ServerResponse) => void = () => undefined;

/** A GET through the proxy's socket, as apt sends it (absolute form); the bytes it got, or the error. */
function fetchThroughProxy(): Promise<{ status: number; bytes: number } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: proxy.socket, path: `http://127.0.0.1:${port}${PACKAGE}` }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", (e) => resolve({ error: e.message }));
    });
    req.on("error", (e) => resolve({ error: e.message }));
  });
}

const cached = () => path.join(dir, "cache", "127.0.0.1", PACKAGE);
const leftovers = () => fs.readdirSync(path.dirname(cached())).filter((f) => f.endsWith(".part"));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "apt-proxy-"));
  held = [];
  archive = http.createServer((_req, res) => {
    held.push(res);
    if (held.length === waitFor) for (const r of held) answer(r);
  });
  await new Promise<void>((r) => archive.listen(0, "127.0.0.1", r));
  port = (archive.address() as AddressInfo).port;
  proxy = await new AptProxy(path.join(dir, "proxy.sock"), ["127.0.0.1"], path.join(dir, "cache")).start();
});

afterEach(async () => {
  await proxy.stop();
  archive.closeAllConnections();
  await new Promise((r) => archive.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("two hosts fetching one package at once: both get all of it, the cache keeps one whole copy", async () => {
  waitFor = 2;
  answer = (res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.end(BODY);
  };
  const both = await Promise.all([fetchThroughProxy(), fetchThroughProxy()]);
  expect(both).toEqual([
    { status: 200, bytes: BODY.length },
    { status: 200, bytes: BODY.length },
  ]);
  // The cache is written as the answer passes through: wait for the file, not for a time.
  while (!fs.existsSync(cached()) || leftovers().length) await new Promise((r) => setImmediate(r));
  expect(fs.statSync(cached()).size).toBe(BODY.length);
  // Served from the cache now: the archive is not asked again.
  waitFor = 99;
  expect(await fetchThroughProxy()).toEqual({ status: 200, bytes: BODY.length });
  expect(held).toHaveLength(2);
});

test("a download the archive cuts off is not kept", async () => {
  waitFor = 1;
  answer = (res) => {
    res.writeHead(200, { "content-length": BODY.length });
    res.write(BODY.subarray(0, BODY.length / 2), () => res.socket?.destroy());
  };
  const got = await fetchThroughProxy();
  expect("error" in got || got.bytes < BODY.length).toBe(true);
  while (leftovers().length) await new Promise((r) => setImmediate(r));
  expect(fs.existsSync(cached())).toBe(false);
});
