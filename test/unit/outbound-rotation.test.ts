/** Which IPs mail leaves from when sending IPs are paused and standby IPs wait. */
import { outboundRotation } from "../../components/mail-server";
import { parseTenant } from "../../providers/model/tenant";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";

describe("outbound rotation", () => {
  const sending = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
  const standby = ["198.51.100.9", "198.51.100.10"];

  test("nothing paused: the sending IPs, no standby", () => {
    expect(outboundRotation("mx1", sending, standby, [])).toEqual({ rotation: sending });
  });

  test("each paused IP leaves the rotation and a standby takes its place, in order", () => {
    expect(outboundRotation("mx1", sending, standby, ["198.51.100.2"]).rotation).toEqual(["198.51.100.1", "198.51.100.3", "198.51.100.9"]);
    expect(outboundRotation("mx1", sending, standby, ["198.51.100.1", "198.51.100.3"]).rotation).toEqual([
      "198.51.100.2",
      "198.51.100.9",
      "198.51.100.10",
    ]);
  });

  test("more paused than standby: the rotation shrinks rather than sending from a paused IP", () => {
    expect(outboundRotation("mx1", sending, ["198.51.100.9"], ["198.51.100.1", "198.51.100.2"]).rotation).toEqual([
      "198.51.100.3",
      "198.51.100.9",
    ]);
  });

  test("a paused address that is not the server's is reported with the server's sending IPs", () => {
    expect(outboundRotation("mx1", sending, standby, ["203.0.113.7"]).problem).toBe(
      "server mx1: pausedIps 203.0.113.7 is not among its sending IPs (198.51.100.1, 198.51.100.2, 198.51.100.3); fix pausedIps in the tenant config",
    );
  });

  test("the tenant config: standby and paused IPs checked with the rest", () => {
    const t = (server: Record<string, unknown>) => ({
      id: "acme",
      tier: "starter",
      monthlyBudgetUsd: 25,
      zone: "acme-mail.com",
      domains: [{ name: "acme-mail.com" }],
      servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2, ...server }],
    });
    expect(parseTenant("acme", t({}), defaultPriceBook()).servers[0]).toMatchObject({ standbyIps: 0, pausedIps: [], retireIps: [] });
    expect(() => parseTenant("acme", t({ standbyIps: 5, pausedIps: ["1.2.3"] }), defaultPriceBook())).toThrow(
      /tenant\.servers\[0\]\.standbyIps: expected at most 4 standby IPs per server[\s\S]*tenant\.servers\[0\]\.pausedIps\[0\]: expected an IPv4 address/,
    );
    expect(() => parseTenant("acme", t({ sendingIps: 30, standbyIps: 4 }), defaultPriceBook())).toThrow(
      /standbyIps: expected sendingIps \+ standbyIps to be at most 32 per server/,
    );
  });
});
