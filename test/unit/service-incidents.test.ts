/**
 * Incidents (service/incidents.ts): the flapping filter as a state machine, checked on thousands of
 * random result sequences against what it promises; escalation; the monitor's results by cause.
 * The channels for real: incident mail through an SMTP listener on loopback, Slack's `{"text"}`
 * POSTed to an HTTP listener on loopback.
 */
import * as http from "http";
import * as net from "net";
import { AddressInfo } from "net";
import { Pool } from "pg";
import { CLOSED, CheckOutcome, CheckState, StateConfig, nextChannel, outcomesByCause, step } from "../../service/incidents";
import { sendMail } from "../../service/mailer";
import { domainResults, domainsDue } from "../../service/monitor";
import { tellChannel } from "../../service/notify";
import type { IncidentRow } from "../../service/store/incidents";

/** A small seeded generator (mulberry32), so a failing sequence can be replayed from its seed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const lastKnown = (seq: CheckOutcome[], n: number) => seq.filter((x) => x !== "unknown").slice(-n);

describe("the flapping filter", () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])("random sequences (seed %i): opens and resolves only as promised", (seed) => {
    const r = rng(seed);
    for (let run = 0; run < 300; run++) {
      const cfg: StateConfig = { openAfter: 1 + Math.floor(r() * 4), resolveAfter: 1 + Math.floor(r() * 4) };
      const pFail = r();
      let s: CheckState = CLOSED;
      const seq: CheckOutcome[] = [];
      const transitions: string[] = [];
      for (let i = 0; i < 120; i++) {
        const x = r();
        const outcome: CheckOutcome = x < 0.1 ? "unknown" : x < 0.1 + pFail * 0.9 ? "fail" : "pass";
        seq.push(outcome);
        const out = step(s, outcome, cfg);
        if (out.transition) {
          transitions.push(out.transition);
          const want = out.transition === "opened" ? "fail" : "pass";
          const n = out.transition === "opened" ? cfg.openAfter : cfg.resolveAfter;
          const tail = lastKnown(seq, n);
          const ctx = `seed ${seed} run ${run} step ${i} cfg ${JSON.stringify(cfg)}`;
          expect([ctx, tail.length, tail.every((t) => t === want)]).toEqual([ctx, n, true]);
        }
        if (outcome === "unknown" && out.state !== s) throw new Error(`seed ${seed} run ${run} step ${i}: unknown changed the state`);
        if (out.state.open !== (out.transition === "opened" || (s.open && out.transition !== "resolved")))
          throw new Error(`seed ${seed} run ${run} step ${i}: open does not follow the transitions`);
        s = out.state;
      }
      // opened, resolved, opened, … never two of a kind in a row
      transitions.forEach((t, i) => expect(t).toBe(i % 2 === 0 ? "opened" : "resolved"));
      // and it ends open exactly when the last failing run was long enough and no passing run long enough followed
      const tail = lastKnown(seq, Math.max(cfg.openAfter, cfg.resolveAfter));
      if (tail.length >= cfg.openAfter && tail.slice(-cfg.openAfter).every((t) => t === "fail")) expect(s.open).toBe(true);
      if (tail.length >= cfg.resolveAfter && tail.slice(-cfg.resolveAfter).every((t) => t === "pass") && cfg.resolveAfter <= cfg.openAfter)
        expect(s.open).toBe(false);
    }
  });

  test("a check that flaps (fail, pass, fail, …, with unknowns between) never opens an incident with openAfter 2", () => {
    let s = CLOSED;
    const r = rng(99);
    let known = 0;
    for (let i = 0; i < 1000; i++) {
      const outcome: CheckOutcome = r() < 0.3 ? "unknown" : known++ % 2 ? "pass" : "fail";
      const out = step(s, outcome);
      expect(out.transition).toBeNull();
      s = out.state;
    }
  });

  test("an open incident stays open on one lucky pass between failures", () => {
    let s = step(step(CLOSED, "fail").state, "fail").state;
    expect(s.open).toBe(true);
    for (const o of ["pass", "fail", "pass", "unknown", "fail"] as CheckOutcome[]) s = step(s, o).state;
    expect(s.open).toBe(true);
    expect(step(step(s, "pass").state, "pass").transition).toBe("resolved");
  });
});

test("escalation: the first channel at once, the next after N minutes unacknowledged, none after acknowledgement", () => {
  const t0 = new Date("2026-04-01T00:00:00Z");
  const at = (min: number) => new Date(t0.getTime() + min * 60_000);
  const base = { acknowledged: false, open: true, escalation: 0, lastAt: t0 };
  expect(nextChannel(base, 3, 30, t0)).toBe(0);
  expect(nextChannel({ ...base, escalation: 1 }, 3, 30, at(29))).toBeNull();
  expect(nextChannel({ ...base, escalation: 1 }, 3, 30, at(30))).toBe(1);
  expect(nextChannel({ ...base, escalation: 1, acknowledged: true }, 3, 30, at(90))).toBeNull();
  expect(nextChannel({ ...base, escalation: 3 }, 3, 30, at(90))).toBeNull();
  expect(nextChannel({ ...base, open: false }, 3, 30, at(90))).toBeNull();
});

test("the monitor's results by cause: unreachable, SMTP, certificate under 14 days, blocklist", () => {
  const m = outcomesByCause([
    { check: "smtp", subject: "mx1:25", status: "fail", detail: "cannot connect to 192.0.2.1:25: ECONNREFUSED" },
    { check: "smtp", subject: "mx1:465", status: "warn", detail: "certificate for mx1, expires in 3 days" },
    { check: "smtp", subject: "mx1:587", status: "pass", detail: "ok" },
    { check: "blocklist", subject: "192.0.2.7 zen", status: "unknown", detail: "timeout" },
  ]);
  expect(m.get("unreachable")?.outcome).toBe("fail");
  expect(m.get("certificate")).toEqual({ outcome: "fail", details: ["mx1:465: certificate for mx1, expires in 3 days"] });
  expect(m.get("smtp")?.outcome).toBe("pass");
  expect(m.get("blocklist")?.outcome).toBe("unknown");
});

/** A minimal SMTP server on loopback (RFC 5321 replies) that keeps each message it is given. */
function smtpSink(): Promise<{ port: number; messages: Array<{ from: string; to: string; data: string }>; close: () => void }> {
  const messages: Array<{ from: string; to: string; data: string }> = [];
  const server = net.createServer((s) => {
    let buf = "";
    let inData = false;
    const m = { from: "", to: "", data: "" };
    // The client may reset the connection after QUIT; that is not the test's failure.
    s.on("error", () => undefined);
    s.write("220 sink.test ESMTP\r\n");
    s.on("data", (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            messages.push({ ...m });
            s.write("250 2.0.0 queued\r\n");
          } else m.data += `${line}\n`;
        } else if (/^EHLO/i.test(line)) s.write("250-sink.test\r\n250 8BITMIME\r\n");
        else if (/^MAIL FROM:/i.test(line)) {
          m.from = line.slice(10);
          s.write("250 2.1.0 ok\r\n");
        } else if (/^RCPT TO:/i.test(line)) {
          m.to = line.slice(8);
          s.write("250 2.1.5 ok\r\n");
        } else if (/^DATA/i.test(line)) {
          inData = true;
          s.write("354 go on\r\n");
        } else if (/^QUIT/i.test(line)) s.end("221 bye\r\n");
        else s.write("502 5.5.2 not implemented\r\n");
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, messages, close: () => server.close() })),
  );
}

const incident: IncidentRow = {
  id: "7",
  tenant: "acme",
  cause: "certificate",
  status: "open",
  summary: "mx1:465: certificate for mx1, expires in 3 days",
  opened_at: new Date("2026-04-01T00:00:00Z"),
  resolved_at: null,
  acknowledged_at: null,
  acknowledged_by: null,
  escalation: 0,
  notified_at: null,
};

test("incident mail reaches the operator's address through a real SMTP conversation on loopback", async () => {
  const sink = await smtpSink();
  try {
    const server = { host: "127.0.0.1", port: sink.port, from: "svc@example.test", to: "ops@example.test" };
    await tellChannel({} as Pool, { kind: "email", server }, incident, "[penguinmails] incident 7 opened", {
      channels: [],
      escalateAfterMinutes: 30,
      consoleUrl: "http://127.0.0.1:1",
    });
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]).toMatchObject({ from: "<svc@example.test>", to: "<ops@example.test>" });
    expect(sink.messages[0].data).toContain("Subject: [penguinmails] incident 7 opened");
    expect(sink.messages[0].data).toContain("http://127.0.0.1:1/console/incidents/7");
    // a line that is only a dot is escaped (RFC 5321 §4.5.2) and a refused recipient names the step
    await sendMail(server, "x", "one\n.\ntwo");
    expect(sink.messages[1].data).toContain("\n..\n");
    await expect(sendMail({ ...server, port: 1 }, "x", "y")).rejects.toThrow(/ECONNREFUSED|connect/);
  } finally {
    sink.close();
  }
});

test('the Slack-compatible channel POSTs {"text": …} as JSON; a refusal is an error', async () => {
  const got: Array<{ type?: string; body: string }> = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      got.push({ type: req.headers["content-type"], body });
      res.writeHead(status).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T0/B0/x`;
  try {
    await tellChannel({} as Pool, { kind: "slack", url }, incident, "incident 7 opened", { channels: [], escalateAfterMinutes: 30 });
    expect(got[0].type).toBe("application/json");
    expect(JSON.parse(got[0].body)).toEqual({ text: "incident 7 opened" });
    status = 404;
    await expect(
      tellChannel({} as Pool, { kind: "slack", url }, incident, "x", { channels: [], escalateAfterMinutes: 30 }),
    ).rejects.toThrow(/answered 404/);
  } finally {
    server.close();
  }
});

test("a domain's verification as a monitoring result: failing fails with its hints, pending tells nothing yet, verified passes", () => {
  const v = (domain: string, status: "pending" | "verified" | "failing", hints: string[] = []) => ({
    domain,
    zone: domain,
    status,
    checkedAt: "2026-12-02T10:00:00.000Z",
    records: [],
    hints,
  });
  expect(
    domainResults([v("a.com", "failing", ["a conflicting TXT record at _dmarc.a.com"]), v("b.com", "pending"), v("c.com", "verified")]),
  ).toEqual([
    { check: "dns", subject: "a.com", status: "fail", detail: "a conflicting TXT record at _dmarc.a.com" },
    { check: "dns", subject: "b.com", status: "unknown", detail: "pending: propagation under way" },
    { check: "dns", subject: "c.com", status: "pass", detail: "verified: every record served as the stack publishes it" },
  ]);
  expect([...outcomesByCause(domainResults([v("a.com", "failing", ["x"])]))]).toEqual([
    ["dns", { outcome: "fail", details: ["a.com: x"] }],
  ]);
});

test("the monitor verifies a failing or pending domain every pass and a verified one every N passes", () => {
  const d = (domain: string, status: string, monitor_skips: number) => ({ domain, status, monitor_skips });
  expect(
    domainsDue([d("a.com", "failing", 0), d("b.com", "pending", 3), d("c.com", "verified", 0), d("e.com", "verified", 11)], 12),
  ).toEqual(["a.com", "b.com", "e.com"]);
  // Over many passes a verified domain is verified once in 12 (the monitor counts the passes it skipped).
  let skips = 0;
  let verified = 0;
  for (let pass = 0; pass < 120; pass++) {
    if (domainsDue([d("c.com", "verified", skips)], 12).length) {
      verified++;
      skips = 0;
    } else skips++;
  }
  expect(verified).toBe(10);
  // 1 (or less): every pass, as before.
  expect(domainsDue([d("c.com", "verified", 0)], 1)).toEqual(["c.com"]);
  expect(domainsDue([d("c.com", "verified", 0)], 0)).toEqual(["c.com"]);
  // A server's results over SSH are incident causes of their own.
  expect([
    ...outcomesByCause([
      { check: "held-mail", subject: "mx1", status: "fail", detail: "900 held" },
      { check: "disk", subject: "mx1", status: "pass", detail: "ok" },
    ]),
  ]).toEqual([
    ["held-mail", { outcome: "fail", details: ["mx1: 900 held"] }],
    ["disk", { outcome: "pass", details: [] }],
  ]);
});
