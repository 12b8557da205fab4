/**
 * Reputation (service/reputation.ts, no database): the score's formula with its inputs shown, the
 * automatic switch's decision, and the request kinds and bodies around them (warm-up, recovery,
 * usage with bounces and complaints, the switch's threshold), each refusal naming its field.
 */
import { parseTenant } from "../../providers/model/tenant";
import { ipWarmup } from "../../providers/model/warmup";
import { warmupPlan } from "../../components/warmup-cap";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { ReputationInputs, SwitchInputs, reputationScore, switchDecision } from "../../service/reputation";
import { KnownIp, changeTenant, judgeTenant, requestBodies } from "../../service/requests";
import { ips as shared, raw, refused, tenant } from "../fixtures/service-tenant";
import { settings, submission, usageBatch } from "../../service/schemas";
import { warmupToday } from "../../service/tenant-ips";

const clean: ReputationInputs = {
  blocklists: [
    { list: "a.test", verdict: "not listed" },
    { list: "b.test", verdict: "not listed" },
  ],
  usage: { days: 7, sent: 10_000, bounced: 50, complained: 5 },
  warmup: { day: null, planDays: null },
};
const score = (o: Partial<ReputationInputs> = {}) => reputationScore({ ...clean, ...o }).score;

describe("the reputation score", () => {
  test("a clean, warmed-up IP scores 100, with its inputs and rates shown", () => {
    const r = reputationScore(clean);
    expect(r.score).toBe(100);
    expect(r.inputs).toMatchObject({ bounceRate: 0.005, complaintRate: 0.0005, warmupProgress: null, blocklists: clean.blocklists });
    expect(r.penalties).toEqual({ blocklists: 0, complaints: 0, bounces: 0, warmup: 0 });
  });
  test("a list that refused, timed out or answered 127.255.255.x (unknown) takes nothing off; each listing 35, at most 70", () => {
    const bl = (...v: Array<"listed" | "unknown" | "not listed">) => v.map((verdict, i) => ({ list: `l${i}.test`, verdict }));
    expect(score({ blocklists: bl("unknown", "unknown") })).toBe(100);
    expect(score({ blocklists: bl("listed", "unknown") })).toBe(65);
    expect(score({ blocklists: bl("listed", "listed") })).toBe(30);
    expect(score({ blocklists: bl("listed", "listed", "listed") })).toBe(30);
  });
  test("complaints: nothing to 0.1%, 40 off at 0.3%, 50 from 0.5%", () => {
    const c = (complained: number) => score({ usage: { days: 7, sent: 10_000, bounced: 0, complained } });
    expect(c(10)).toBe(100);
    expect(c(20)).toBe(80);
    expect(c(30)).toBe(60);
    expect(c(50)).toBe(50);
    expect(c(5000)).toBe(50);
  });
  test("bounces: nothing to 2%, 30 off at 10% and beyond", () => {
    const b = (bounced: number) => score({ usage: { days: 7, sent: 1000, bounced, complained: 0 } });
    expect(b(20)).toBe(100);
    expect(b(60)).toBe(85);
    expect(b(100)).toBe(70);
    expect(b(1000)).toBe(70);
  });
  test("nothing sent: no rates, no penalty; warm-up: 10 off on day 1, none once through the plan", () => {
    expect(reputationScore({ ...clean, usage: { days: 7, sent: 0, bounced: 0, complained: 0 } }).inputs.complaintRate).toBeNull();
    expect(score({ warmup: { day: 1, planDays: 14 } })).toBe(90);
    expect(score({ warmup: { day: 8, planDays: 14 } })).toBe(95);
    expect(score({ warmup: { day: 30, planDays: 14 } })).toBe(100);
  });
  test("never below 0 nor above 100, a whole number, whatever the inputs", () => {
    for (let i = 0; i < 500; i++) {
      const sent = Math.floor(Math.random() * 1000);
      const s = score({
        blocklists: [{ list: "x", verdict: Math.random() < 0.5 ? "listed" : "unknown" }],
        usage: { days: 7, sent, bounced: Math.floor(Math.random() * (sent + 1)), complained: Math.floor(Math.random() * (sent + 1)) },
        warmup: { day: Math.floor(Math.random() * 20) + 1, planDays: 14 },
      });
      expect(Number.isInteger(s) && s >= 0 && s <= 100).toBe(true);
    }
  });
});

describe("the automatic switch's decision", () => {
  const base: SwitchInputs = {
    optedIn: true,
    switchBelowScore: 60,
    verdict: "not listed",
    score: 90,
    pauseOpen: false,
    standby: { ip: "198.51.0.12", verdict: "not listed" },
  };
  test("fires on a listing, or on a score below the tenant's threshold", () => {
    expect(switchDecision({ ...base, verdict: "listed" })).toEqual({ action: "switch", reason: "listed", standby: "198.51.0.12" });
    expect(switchDecision({ ...base, score: 59 })).toEqual({ action: "switch", reason: "score 59 below 60", standby: "198.51.0.12" });
    expect(switchDecision({ ...base, score: 60 })).toEqual({ action: "none" });
    expect(switchDecision({ ...base, switchBelowScore: null, score: 10 })).toEqual({ action: "none" });
    expect(switchDecision({ ...base, score: null })).toEqual({ action: "none" });
  });
  test("not opted in, or a pause already on its way: nothing", () => {
    expect(switchDecision({ ...base, optedIn: false, verdict: "listed" })).toEqual({ action: "none" });
    expect(switchDecision({ ...base, pauseOpen: true, verdict: "listed" })).toEqual({ action: "none" });
  });
  test("never onto a standby that is listed itself; no standby → an alert", () => {
    expect(switchDecision({ ...base, score: 10, standby: { ip: "198.51.0.12", verdict: "listed" } })).toEqual({
      action: "alert",
      reason: "score 10 below 60",
      why: "one free standby, 198.51.0.12, and it is listed itself",
    });
    expect(switchDecision({ ...base, verdict: "listed", standby: null })).toMatchObject({ action: "alert", why: "no free standby IP" });
    // a standby the lists could not judge (unknown) is not listed
    expect(switchDecision({ ...base, verdict: "listed", standby: { ip: "198.51.0.12", verdict: "unknown" } }).action).toBe("switch");
  });
});

// 198.51.0.11 paused (the recovery requests' subject)
const ips: KnownIp[] = shared.map((ip) => (ip.ip === "198.51.0.11" ? { ...ip, role: "paused" } : ip));

describe("warm-up and recovery requests", () => {
  test("set_warmup sets that IP's own warm-up by its slot, keeping what the body leaves out", () => {
    const once = changeTenant(tenant, "set_warmup", { ip: "198.51.0.10", startVolume: 30, dailyGrowthPercent: 25 }, ips);
    const twice = changeTenant(once, "set_warmup", { ip: "198.51.0.10", paused: true }, ips);
    expect(judgeTenant("acme", twice).ipWarmup).toEqual({ "mx1-ip1": { startVolume: 30, dailyGrowthPercent: 25, paused: true } });
  });
  test.each([
    [{ startVolume: 0 }, "params.startVolume", /at least 1 message a day/],
    [{ dailyGrowthPercent: 150 }, "params.dailyGrowthPercent", /at most 100%/],
    [{ dailyGrowthPercent: 0 }, "params.dailyGrowthPercent", /above 0%/],
    [{ ceiling: -5 }, "params.ceiling", /daily cap/],
  ])("a warm-up of %j is refused naming %s", (bad, field, message) => {
    const r = submission.safeParse({ kind: "set_warmup", params: { ip: "198.51.0.10", ...bad } });
    expect(r.success).toBe(false);
    const issue = r.success ? undefined : r.error.issues.find((i) => i.path.join(".") === field);
    expect(issue?.message).toMatch(message);
  });
  test("recover_ip resume: unpaused, its warm-up started over today; the plan's line counts from today", () => {
    const today = new Date().toISOString().slice(0, 10);
    const paused = { ...tenant, servers: [{ ...tenant.servers[0], pausedIps: ["198.51.0.11"] }] };
    const t = judgeTenant("acme", changeTenant(paused, "recover_ip", { ip: "198.51.0.11", action: "resume" }, ips));
    expect(t.servers[0].pausedIps).toEqual([]);
    expect(t.ipWarmup["mx1-ip2"]).toEqual({ restartedOn: today });
    const plan = warmupPlan([{ slot: "mx1-ip2", transport: "pm-mx1-ip2", since: "2026-01-05T10:00:00Z" }], {
      bySlot: { "mx1-ip2": ipWarmup(t.warmup, t.ipWarmup["mx1-ip2"]) },
      default: ipWarmup(t.warmup),
    });
    expect(plan).toContain(`pm-mx1-ip2 ${today} run 50 100`);
  });
  test("restartedOn as Pulumi's config reader hands an unquoted YAML day back is that day", () => {
    const t = parseTenant(
      "acme",
      { ...raw, ipWarmup: { "mx1-ip2": { restartedOn: "2026-12-02 00:00:00 +0000 UTC" } } },
      defaultPriceBook(),
    );
    expect(t.ipWarmup["mx1-ip2"].restartedOn).toBe("2026-12-02");
  });
  test("recover_ip retire: replaced new-first (retireIps), no longer paused", () => {
    const paused = { ...tenant, servers: [{ ...tenant.servers[0], pausedIps: ["198.51.0.11"] }] };
    const t = changeTenant(paused, "recover_ip", { ip: "198.51.0.11", action: "retire" }, ips);
    expect(t.servers[0]).toMatchObject({ retireIps: ["198.51.0.11"], pausedIps: [] });
  });
  test("recover_ip refusals name the IP and what to do", () => {
    expect(refused(() => changeTenant(tenant, "recover_ip", { ip: "198.51.0.10", action: "resume" }, ips))).toMatch(
      /198\.51\.0\.10 of tenant acme is sending, not paused/,
    );
    expect(
      refused(() =>
        changeTenant(tenant, "recover_ip", { ip: "198.51.0.12", action: "retire" }, [{ ...ips[2], role: "standby" }, ips[0], ips[1]]),
      ),
    ).toMatch(/is a standby IP/);
    expect(requestBodies.recover_ip.safeParse({ ip: "198.51.0.10", action: "reboot" }).error?.issues[0]).toMatchObject({
      path: ["action"],
      message: "expected retire or resume",
    });
  });
  test("GET ips' warm-up day counts the days the IP sent, not calendar days", () => {
    const plan = [50, 100, 200].map((maxMessages, i) => ({ day: i + 1, maxMessages }));
    const longAgo = "2026-01-01T00:00:00Z";
    expect(warmupToday(longAgo, plan, new Date("2026-03-01T00:00:00Z"), 1)).toEqual({ day: 2, maxMessages: 100, warmedUp: false });
    expect(warmupToday(longAgo, plan, new Date("2026-03-01T00:00:00Z"), 5)).toEqual({ day: 6, maxMessages: 200, warmedUp: true });
  });
});

describe("usage reports and the switch's threshold", () => {
  const day = new Date().toISOString().slice(0, 10);
  test("bounced and complained: optional, whole, at most the sent; a bad one refuses the whole batch naming the field", () => {
    const ok = usageBatch.parse({ records: [{ tenant: "acme", ip: "198.51.0.1", day, sent: 100, complained: 2 }] });
    expect(ok.records[0]).toMatchObject({ bounced: 0, complained: 2 });
    const r = usageBatch.safeParse({
      records: [
        { tenant: "acme", ip: "198.51.0.1", day, sent: 100, bounced: 101 },
        { tenant: "acme", ip: "198.51.0.2", day, sent: 10, complained: -1 },
        { tenant: "acme", ip: "198.51.0.3", day, sent: 10, complained: 1.5 },
      ],
    });
    expect(r.success ? [] : r.error.issues.map((i) => i.path.join("."))).toEqual(
      expect.arrayContaining(["records.0.bounced", "records.1.complained", "records.2.complained"]),
    );
  });
  test.each([-1, 101, 50.5, "60"])("switchBelowScore %j is refused naming the field", (bad) => {
    const r = settings.safeParse({ autoEmergencySwitch: true, switchBelowScore: bad });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(["switchBelowScore"]);
    expect(r.error?.issues[0].message).toMatch(/reputation score from 0 to 100/);
  });
  test("a threshold from 0 to 100, or null (on a listing only)", () => {
    expect(settings.parse({ autoEmergencySwitch: true, switchBelowScore: 0 })).toEqual({ autoEmergencySwitch: true, switchBelowScore: 0 });
    expect(settings.parse({ autoEmergencySwitch: true, switchBelowScore: null }).switchBelowScore).toBeNull();
  });
});
