/** The monitor's server checks over SSH (service/server-checks.ts): the script's output parsed and judged, by hand-made output. */
import { execFileSync } from "child_process";
import {
  DEFAULT_SERVER_LIMITS,
  heldByIp,
  judgeServer,
  parseServerCheck,
  resourceLine,
  shortOf,
  SERVER_CHECK_SCRIPT,
} from "../../service/server-checks";

const GIB = 1024 ** 3;
/** What the script prints on a MailU server whose relay holds mail for two IPs (formats: df(1) -P, proc(5), postconf(1) -P). */
const output = (o: { hold?: number; deferred?: number; rootUsed?: number; memAvail?: number; backup?: string } = {}) =>
  [
    "== held",
    "pm-mx1-ip1 3",
    "pm-mx1-ip1 1",
    "pm-mx1-ip2 2",
    "== queue",
    `hold ${o.hold ?? 3}`,
    `deferred ${o.deferred ?? 1}`,
    "active 0",
    "incoming 0",
    "== bind",
    "pm-mx1-ip1/unix/smtp_bind_address = 203.0.113.10",
    "pm-mx1-ip2/unix/smtp_bind_address = 203.0.113.11",
    "pm-mx1-standby1/unix/smtp_bind_address = 203.0.113.12",
    "== df",
    `/ /dev/vda1 ${30 * GIB} ${o.rootUsed ?? 10 * GIB} ${30 * GIB - (o.rootUsed ?? 10 * GIB)} 34% /`,
    `/mailu /dev/vda1 ${30 * GIB} ${o.rootUsed ?? 10 * GIB} ${30 * GIB - (o.rootUsed ?? 10 * GIB)} 34% /`,
    "== meminfo",
    "MemTotal:        2000000 kB",
    `MemAvailable:    ${o.memAvail ?? 900000} kB`,
    "== backup",
    o.backup ?? '{"at":"2026-04-10T02:00:00Z","ok":true,"detail":"snapshot saved"}',
    "",
    "== now",
    "2026-04-10T12:00:00Z",
  ].join("\n");
const now = new Date("2026-04-10T12:00:00Z");
const status = (c: ReturnType<typeof judgeServer>) => Object.fromEntries(c.map((r) => [r.check, r.status]));

test("parsed: held mail per transport and IP, the queue, disks, memory and the backup's record", () => {
  const c = parseServerCheck(output());
  expect(c.held.byTransport).toEqual({ "pm-mx1-ip1": 2, "pm-mx1-ip2": 1 });
  expect(c.held.queue).toEqual({ hold: 3, deferred: 1, active: 0, incoming: 0 });
  expect(heldByIp(c)).toEqual({ "203.0.113.10": 2, "203.0.113.11": 1, "203.0.113.12": 0 });
  expect(c.disks.map((d) => d.mount)).toEqual(["/", "/mailu"]);
  expect(c.memory).toEqual({ totalKb: 2000000, availableKb: 900000 });
  expect(c.backup).toEqual({ at: "2026-04-10T02:00:00Z", ok: true, detail: "snapshot saved" });
  expect(status(judgeServer("mx1", c, DEFAULT_SERVER_LIMITS, now))).toEqual({
    "held-mail": "pass",
    disk: "pass",
    memory: "pass",
    backup: "pass",
  });
});

test("judged: held mail over the threshold, a full disk, short memory, an old or failed backup each fail their cause", () => {
  const j = (o: Parameters<typeof output>[0]) => status(judgeServer("mx1", parseServerCheck(output(o)), DEFAULT_SERVER_LIMITS, now));
  expect(j({ hold: 400, deferred: 101 })["held-mail"]).toBe("fail");
  expect(j({ hold: 400, deferred: 100 })["held-mail"]).toBe("pass");
  expect(j({ rootUsed: 28 * GIB }).disk).toBe("fail");
  expect(j({ memAvail: 150000 }).memory).toBe("fail");
  expect(j({ backup: '{"at":"2026-04-09T02:00:00Z","ok":true,"detail":"snapshot saved"}' }).backup).toBe("fail");
  expect(j({ backup: '{"at":"2026-04-10T02:00:00Z","ok":false,"detail":"backup failed at line 9"}' }).backup).toBe("fail");
  // No record: no backup ran yet, which tells nothing (unknown changes no incident).
  expect(j({ backup: "" }).backup).toBe("unknown");
  expect(shortOf(parseServerCheck(output({ rootUsed: 28 * GIB, memAvail: 150000 })))).toMatchObject({ disk: true, memory: true });
  expect(shortOf(parseServerCheck(output()))).toMatchObject({ disk: false, memory: false, why: [] });
});

test("output that is not the script's is refused, naming what is missing; junk lines are skipped", () => {
  expect(() => parseServerCheck("Welcome to Debian\n")).toThrow(/no held, queue, bind, df, meminfo, backup, now section/);
  const c = parseServerCheck(output({ backup: "not json" }).replace("== df\n", "== df\nFilesystem junk\n"));
  expect(c.backup).toBeNull();
  expect(c.disks).toHaveLength(2);
});

test("the script runs under bash on this machine and its output parses (no Postfix, no MailU: empty sections)", () => {
  const out = execFileSync("bash", ["-c", SERVER_CHECK_SCRIPT], { encoding: "utf8" });
  const c = parseServerCheck(out);
  expect(c.disks.find((d) => d.mount === "/")?.sizeBytes).toBeGreaterThan(0);
  expect(c.memory?.totalKb).toBeGreaterThan(0);
  expect(Date.parse(c.at)).not.toBeNaN();
});

test("the console's resource line: each filesystem, memory, held mail and when", () => {
  expect(resourceLine(parseServerCheck(output()))).toBe(
    "/ 33.3% used; /mailu 33.3% used; memory 45% available; 4 held on the relay; checked 2026-04-10T12:00:00Z",
  );
});
