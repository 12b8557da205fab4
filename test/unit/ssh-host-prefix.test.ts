import { SshHostSim, sshHostPrefix } from "../../scripts/dev/standins/ssh-host";

describe("the SSH-host stand-in's loopback prefix", () => {
  test("the override wins", () => {
    expect(sshHostPrefix({ PENGUINMAILS_SSH_HOST_PREFIX: "127.203" }, "/a", 1)).toBe("127.203");
  });

  test("by default one per checkout and process, fixed for both, never 127.0, 127.1 or 127.255", () => {
    expect(sshHostPrefix({}, "/work/a", 100)).toBe(sshHostPrefix({}, "/work/a", 100));
    expect(sshHostPrefix({}, "/work/a", 100)).not.toBe(sshHostPrefix({}, "/work/a", 101));
    const seen = new Set<string>();
    for (const checkout of ["/work/a", "/work/b", "/work/c"])
      for (let pid = 1; pid <= 400; pid++) {
        const p = sshHostPrefix({}, checkout, pid);
        expect(p).toMatch(/^127\.(\d+)$/);
        const n = Number(p.split(".")[1]);
        expect(n >= 2 && n <= 254).toBe(true);
        seen.add(p);
      }
    // 1,200 checkouts × processes spread over the 253 prefixes (a constant would give one).
    expect(seen.size).toBeGreaterThan(200);
  });

  test("Jest's workers of one checkout never meet, whatever their process ids", () => {
    for (const checkout of ["/work/a", "/work/b", "/srv/ci/penguinmails-infra"]) {
      const byWorker = [1, 2, 3, 4, 5, 6, 7, 8].map((w) => sshHostPrefix({ JEST_WORKER_ID: String(w) }, checkout, 1000 + w * 7));
      expect(new Set(byWorker).size).toBe(8);
      for (const p of byWorker) expect(Number(p.split(".")[1])).toBeGreaterThanOrEqual(2);
      for (const p of byWorker) expect(Number(p.split(".")[1])).toBeLessThanOrEqual(254);
      // a worker's prefix is the same in every process it starts (they inherit JEST_WORKER_ID, not the pid)
      expect(sshHostPrefix({ JEST_WORKER_ID: "3" }, checkout, 1)).toBe(sshHostPrefix({ JEST_WORKER_ID: "3" }, checkout, 99999));
    }
  });

  test("whether this machine can run the stand-in is found once per process, then kept (no unshare per ask)", () => {
    const kept = () => (SshHostSim as unknown as { unavailable: string | undefined | null }).unavailable;
    const first = SshHostSim.unavailableReason();
    expect(kept()).toBe(first);
    for (let i = 0; i < 5; i++) expect(SshHostSim.unavailableReason()).toBe(first);
  });
});
