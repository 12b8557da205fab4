import { restic } from "../../scripts/lib/restic";

// Real restic (Debian's, installed by scripts/dev/system-packages.sh). `restic version` reads no
// stdin and exits at once; 16 MiB of input is far past a pipe's buffer, so the write meets a
// closed pipe (EPIPE). Its outcome is the command's own: the version, not a thrown EPIPE.
describe("restic runner", () => {
  test("a command that exits before reading its input answers with its own outcome, not EPIPE", async () => {
    const access = { repository: "/nonexistent/penguinmails-restic-test", password: "unused-password" };
    for (let i = 0; i < 5; i++) {
      const out = await restic(access, ["version"], { stdin: Buffer.alloc(16 * 1024 * 1024) });
      expect(out.toString()).toMatch(/^restic \d+\.\d+/);
    }
  });
});
