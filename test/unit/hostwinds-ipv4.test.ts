/**
 * Hostwinds calls leave over IPv4 only: a key bound to an IPv4 allow-list answers "Not Authorized!"
 * to a call that arrives over IPv6 (hostwinds-api.md §1). A host name resolving to both families
 * is served by two servers on one port, one per family, each answering as its own account.
 */
import * as http from "http";
import { AddressInfo } from "net";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { send } from "../../providers/lib/http";

const HOST = "dual-stack.hostwinds.test";
// The module object itself (an `import *` namespace is read-only): net's connect looks names up through it.
const dns = require("dns") as { lookup: unknown };

describe("IPv4 only for Hostwinds", () => {
  const servers: http.Server[] = [];
  let port = 0;
  let ipv6 = true;
  const lookup = dns.lookup;

  beforeAll(async () => {
    // This name resolves to ::1 unless the caller asks for IPv4 (as a dual-stack runner's resolver would prefer IPv6).
    dns.lookup = (host: string, opts: unknown, cb?: unknown) => {
      const callback = (typeof opts === "function" ? opts : cb) as (...a: unknown[]) => void;
      const o = (typeof opts === "object" && opts ? opts : { family: opts }) as { family?: number; all?: boolean };
      if (host !== HOST) return (lookup as (...a: unknown[]) => void)(host, opts, cb);
      const a = o.family === 4 ? { address: "127.0.0.1", family: 4 } : { address: "::1", family: 6 };
      return o.all ? callback(null, [a]) : callback(null, a.address, a.family);
    };
    const answer = (family: string) =>
      http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          family === "4"
            ? JSON.stringify({ success: [] })
            : JSON.stringify({ result: "error", action: "Authorization", message: "Not Authorized!" }),
        );
      });
    const six = answer("6");
    servers.push(six);
    try {
      await new Promise<void>((resolve, reject) => six.once("error", reject).listen(0, "::1", resolve));
      port = (six.address() as AddressInfo).port;
    } catch {
      ipv6 = false;
    }
    const four = answer("4");
    servers.push(four);
    await new Promise<void>((resolve) => four.listen(port, "127.0.0.1", resolve));
    port = (four.address() as AddressInfo).port;
  });

  afterAll(async () => {
    dns.lookup = lookup;
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  test("a name with both address families: the client reaches the IPv4 address, where the key is allowed", async () => {
    const url = `http://${HOST}:${port}/cloud/api.php`;
    if (ipv6) {
      // Without the switch the same name is reached over IPv6 (the failure this guards against).
      const plain = await send({ method: "POST", url, headers: {}, body: "", timeoutMs: 5_000 });
      expect(plain.text).toContain("Not Authorized!");
    }
    const viaIpv4 = await send({ method: "POST", url, headers: {}, body: "", timeoutMs: 5_000, ipv4Only: true });
    expect(viaIpv4.text).toBe(JSON.stringify({ success: [] }));
    const client = new HostwindsClient({ apiKey: "key-0123456789", apiUrl: url, requestsPerSecond: 0, budget: null });
    await expect(client.listInstances()).resolves.toEqual([]);
  });
});
