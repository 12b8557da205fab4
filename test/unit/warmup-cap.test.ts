/**
 * The warm-up cap's files: the plan the install writes, the relay lines that call the policy, and the
 * policy and daily job themselves, run here with bash on files in a temporary folder (the real Postfix
 * runs them in the mail-server engine test).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { relayMainCf, relayMasterCf } from "../../components/outbound-relay";
import {
  WARMUP_JOB,
  WARMUP_SERVICE,
  WARMUP_TIMER,
  warmupJobScript,
  warmupPlan,
  warmupPolicyScript,
  warmupService,
  warmupTimer,
} from "../../components/warmup-cap";
import { ipWarmup, rampVolumes, warmupCap, warmupDay, warmupSchedule } from "../../providers/model/warmup";

const MAP = ["@a.acme-mail.com pm-mx1-ip1:", "@b.acme-mail.com pm-mx1-ip1:", "@c.acme-mail.com pm-mx1-ip2:", "<> pm-mx1-ip1:", ""].join(
  "\n",
);

function sandbox() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "warmup-"));
  const etc = path.join(dir, "etc");
  const state = path.join(dir, "state");
  fs.mkdirSync(etc);
  fs.mkdirSync(state);
  fs.writeFileSync(path.join(dir, "sender-transports"), MAP);
  fs.writeFileSync(path.join(dir, "policy"), warmupPolicyScript(), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "job"), warmupJobScript(), { mode: 0o755 });
  // The job asks Postfix where its queue is; here an empty folder stands for it.
  fs.mkdirSync(path.join(dir, "bin"));
  fs.mkdirSync(path.join(dir, "queue", "hold"), { recursive: true });
  fs.writeFileSync(path.join(dir, "bin", "postconf"), `#!/bin/sh\necho ${path.join(dir, "queue")}\n`, { mode: 0o755 });
  const env = {
    ...process.env,
    PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
    PM_WARMUP_ETC: etc,
    PM_WARMUP_STATE: state,
    PM_SENDER_MAP: path.join(dir, "sender-transports"),
    PM_WARMUP_USER: os.userInfo().username,
  };
  /** One connection's worth of policy requests (Postfix's policy protocol); the actions answered. */
  const ask = (requests: Array<Record<string, string>>) =>
    execFileSync(path.join(dir, "policy"), {
      env,
      input: requests
        .map(
          (r) =>
            Object.entries(r)
              .map(([k, v]) => `${k}=${v}\n`)
              .join("") + "\n",
        )
        .join(""),
    })
      .toString()
      .split("\n\n")
      .filter(Boolean)
      .map((a) => a.replace(/^action=/, ""));
  const job = (...args: string[]) => spawnSync(path.join(dir, "job"), args, { env, encoding: "utf8" });
  return { dir, etc, state, ask, job, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
const eom = (sender: string, id: string, recipients = 1) => ({
  request: "smtpd_access_policy",
  protocol_state: "END-OF-MESSAGE",
  sender,
  queue_id: id,
  recipient_count: `${recipients}`,
});

describe("warm-up cap", () => {
  test("the day of an IP counts UTC dates from the one it was got; after the plan, no cap", () => {
    const since = "2026-11-27T23:50:00Z";
    expect(warmupDay(since, new Date("2026-11-27T23:59:00Z"))).toBe(1);
    expect(warmupDay(since, new Date("2026-11-28T00:01:00Z"))).toBe(2);
    expect(warmupDay(since, new Date("2026-11-20T00:00:00Z"))).toBe(1);
    expect(warmupCap(warmupSchedule([3, 10]), 2)).toBe(10);
    expect(warmupCap(warmupSchedule([3, 10]), 3)).toBeNull();
    expect(() => warmupDay("soon")).toThrow(/warm-up start "soon" is not a date/);
  });

  test("a ramp the customer sets: start, daily growth (rounded up), ceiling", () => {
    expect(rampVolumes({ startVolume: 20, dailyGrowthPercent: 30, ceiling: 100 })).toEqual([20, 26, 34, 45, 59, 77, 100]);
    expect(rampVolumes({ startVolume: 50, dailyGrowthPercent: 100, ceiling: 50 })).toEqual([50]);
    expect(warmupSchedule({ startVolume: 40, dailyGrowthPercent: 25, ceiling: 80 }).map((d) => d.maxMessages)).toEqual([
      40, 50, 63, 79, 80,
    ]);
    // An IP's own settings override the tenant's ramp field by field.
    expect(ipWarmup({ startVolume: 40, dailyGrowthPercent: 25, ceiling: 80 }, { ceiling: 50 })).toEqual({
      volumes: [40, 50],
      holdsAtEnd: true,
      paused: false,
    });
    expect(ipWarmup("aggressive").holdsAtEnd).toBe(false);
  });

  test("the plan: one line per IP with its transport, the UTC date it was got and the volumes; an IP with no date is refused", () => {
    const plan = warmupPlan(
      [
        { slot: "mx1-ip1", transport: "pm-mx1-ip1", since: "2026-11-27T23:50:00.000Z" },
        { slot: "mx1-standby1", transport: "pm-mx1-standby1", since: "2026-11-28T08:00:00+02:00" },
      ],
      [20, 30],
    );
    expect(plan.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      "pm-mx1-ip1 2026-11-27 run 20 30",
      "pm-mx1-standby1 2026-11-28 run 20 30",
      "",
    ]);
    // Each IP its own: a ramp to its ceiling (which then stays the cap: "+"), and a paused one.
    const own = warmupPlan(
      [
        { slot: "mx1-ip1", transport: "pm-mx1-ip1", since: "2026-11-27T00:00:00Z" },
        { slot: "mx1-ip2", transport: "pm-mx1-ip2", since: "2026-11-27T00:00:00Z" },
      ],
      {
        default: ipWarmup({ startVolume: 20, dailyGrowthPercent: 50, ceiling: 60 }),
        bySlot: { "mx1-ip2": ipWarmup("standard", { paused: true }) },
      },
    );
    expect(own.split("\n").filter((l) => !l.startsWith("#"))[0]).toBe("pm-mx1-ip1 2026-11-27 run 20 30 45 60 +");
    expect(own.split("\n").filter((l) => !l.startsWith("#"))[1]).toMatch(/^pm-mx1-ip2 2026-11-27 paused 50 100 200 .* 20000$/);
    expect(() => warmupPlan([{ slot: "mx1-ip2", transport: "pm-mx1-ip2", since: "" }], [20])).toThrow(
      /mx1-ip2 has no start date \(its "since" is ""\)/,
    );
    expect(() => warmupPlan([{ slot: "mx1-ip1", transport: "pm-mx1-ip1", since: "2026-11-27" }], [20, 0])).toThrow(
      /warm-up plan of mx1-ip1: expected daily volumes of 1 or more messages, found \[20, 0\]/,
    );
  });

  test("the relay calls the policy at the end of each message; the policy is spawned unprivileged as its own user", () => {
    expect(relayMainCf({ hostname: "mx1.acme-mail.com" })).toContain(
      "\nsmtpd_end_of_data_restrictions = check_policy_service unix:private/pm-warmup\n",
    );
    expect(relayMasterCf({ hostname: "mx1.acme-mail.com", sending: [], standby: [] })).toContain(
      "\npm-warmup  unix  -       n       n       -       0       spawn\n  user=pm-warmup argv=/usr/local/sbin/penguinmails-warmup-policy\n",
    );
  });

  test("the policy counts each IP's messages (all its domains together) and holds what is past the day's cap", () => {
    const s = sandbox();
    try {
      fs.writeFileSync(path.join(s.etc, "caps"), "date 2026-11-28\npm-mx1-ip1 3 day 1\npm-mx1-ip2 - day 30\n");
      const actions = s.ask([
        { request: "smtpd_access_policy", protocol_state: "RCPT", sender: "x@a.acme-mail.com" },
        eom("x@a.acme-mail.com", "Q1"),
        eom("y@b.acme-mail.com", "Q2", 2),
        eom("x@a.acme-mail.com", "Q3"),
        eom("z@c.acme-mail.com", "Q4", 50),
        eom("x@elsewhere.example", "Q5"),
      ]);
      expect(actions).toEqual([
        "DUNNO", // only the end of a message counts
        "DUNNO",
        "DUNNO", // 3 of 3: two recipients
        "HOLD warm-up: pm-mx1-ip1 has sent 3 of its 3 messages for 2026-11-28",
        "DUNNO", // ip2 is warmed up: no cap
        "DUNNO", // no route: Postfix itself holds it (retry transport)
      ]);
      // While older mail is held for an IP, newer mail waits behind it, even under a raised cap.
      fs.writeFileSync(path.join(s.etc, "caps"), "date 2026-11-28\npm-mx1-ip1 10 day 1\n");
      expect(s.ask([eom("", "Q6")])).toEqual(["HOLD warm-up: pm-mx1-ip1 has sent 3 of its 10 messages for 2026-11-28"]);
      expect(fs.readFileSync(path.join(s.state, "held"), "utf8")).toBe("Q3 1 pm-mx1-ip1 x@a.acme-mail.com\nQ6 1 pm-mx1-ip1 \n");
      expect(fs.readFileSync(path.join(s.state, "2026-11-28", "pm-mx1-ip1"), "utf8")).toBe("3\n");
    } finally {
      s.done();
    }
  });

  test("with no caps computed yet, the policy holds rather than sends", () => {
    const s = sandbox();
    try {
      expect(s.ask([eom("x@a.acme-mail.com", "Q1")])).toEqual(["HOLD warm-up: today's caps are not computed yet"]);
    } finally {
      s.done();
    }
  });

  test("the daily job: an IP's day advances only on days it sent (an idle IP resumes where it stopped), a paused one stays, a ceiling holds; held entries Postfix no longer holds are dropped", () => {
    const s = sandbox();
    try {
      fs.writeFileSync(
        path.join(s.etc, "plan"),
        [
          "# plan",
          "pm-mx1-ip1 2026-11-27 run 3 10",
          "pm-mx1-ip2 2026-11-20 run 3 10",
          "pm-mx1-ip3 2026-11-27 paused 5 7 +",
          "pm-mx1-ip4 2026-11-27 run 2 4 +",
          "",
        ].join("\n"),
      );
      fs.writeFileSync(path.join(s.state, "held"), "Q9 1 pm-mx1-ip1 x@a.acme-mail.com\n");
      const day = (date: string) => {
        const r = s.job("--date", date);
        expect([r.status, r.stderr]).toEqual([0, ""]);
        return { out: r.stdout, caps: fs.readFileSync(path.join(s.etc, "caps"), "utf8") };
      };
      const sent = (date: string, transport: string, n: number) => {
        fs.mkdirSync(path.join(s.state, date), { recursive: true });
        fs.writeFileSync(path.join(s.state, date, transport), `${n}\n`);
      };
      // ip2 was got a week ago and never sent: it starts at day 1, not day 8.
      expect(day("2026-11-27").caps).toBe(
        "date 2026-11-27\npm-mx1-ip1 3 day 1\npm-mx1-ip2 3 day 1\npm-mx1-ip3 5 day 1 paused\npm-mx1-ip4 2 day 1\n",
      );
      sent("2026-11-27", "pm-mx1-ip1", 3);
      sent("2026-11-27", "pm-mx1-ip3", 2);
      sent("2026-11-27", "pm-mx1-ip4", 2);
      const next = day("2026-11-28");
      expect(next.caps).toBe("date 2026-11-28\npm-mx1-ip1 10 day 2\npm-mx1-ip2 3 day 1\npm-mx1-ip3 5 day 1 paused\npm-mx1-ip4 4 day 2\n");
      expect(next.out).toBe("warm-up 2026-11-28: pm-mx1-ip1 10, pm-mx1-ip2 3, pm-mx1-ip3 5, pm-mx1-ip4 4; released 0, still held 0\n");
      // The same day again counts nothing twice.
      expect(day("2026-11-28").caps).toBe(next.caps);
      sent("2026-11-28", "pm-mx1-ip4", 4);
      // ip1 sat idle on the 28th: still day 2. ip4 is past its plan: its ceiling stays the cap.
      const third = day("2026-11-29").caps;
      expect(third).toContain("pm-mx1-ip1 10 day 2\n");
      expect(third).toContain("pm-mx1-ip4 4 day 3\n");
      sent("2026-11-29", "pm-mx1-ip1", 1);
      expect(day("2026-11-30").caps).toContain("pm-mx1-ip1 - day 3\n");
      // A new IP on the slot (another since) starts over.
      fs.writeFileSync(path.join(s.etc, "plan"), "pm-mx1-ip1 2026-11-30 run 3 10\n");
      expect(day("2026-11-30").caps).toBe("date 2026-11-30\npm-mx1-ip1 3 day 1\n");
      // A plan written before run|paused still reads: every IP runs.
      fs.writeFileSync(path.join(s.etc, "plan"), "pm-mx1-ip1 2026-11-30 3 10\n");
      expect(day("2026-11-30").caps).toBe("date 2026-11-30\npm-mx1-ip1 3 day 1\n");
      expect(s.job("--date", "tomorrow").stderr).toMatch(/--date needs a date such as 2026-01-31, not 'tomorrow'/);
    } finally {
      s.done();
    }
  });

  const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
  (analyze ? test : test.skip)("systemd-analyze verifies the daily timer and its service", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pm-units-"));
    try {
      // systemd's own units (timers.target and the rest) for the dependencies, then ours.
      fs.cpSync("/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/system"), { recursive: true });
      fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
      fs.mkdirSync(path.join(root, path.dirname(WARMUP_JOB)), { recursive: true });
      fs.writeFileSync(path.join(root, WARMUP_JOB), warmupJobScript(), { mode: 0o700 });
      fs.writeFileSync(path.join(root, "etc/systemd/system", WARMUP_SERVICE), warmupService());
      fs.writeFileSync(path.join(root, "etc/systemd/system", WARMUP_TIMER), warmupTimer());
      const r = spawnSync(
        "systemd-analyze",
        ["verify", `--root=${root}`, `/etc/systemd/system/${WARMUP_TIMER}`, `/etc/systemd/system/${WARMUP_SERVICE}`],
        { encoding: "utf8" },
      );
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
