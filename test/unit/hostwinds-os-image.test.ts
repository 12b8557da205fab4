/** hostwinds.OsImage's pure parts: an image change is a reinstall in place (never a replacement), said in the preview. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UNKNOWN } from "../../providers/lib/dynamic";
import { provider as osImage } from "../../providers/hostwinds/os-image";
import { NO_REINSTALL_SCRIPT, preReinstallScript, BACKUP_SCRIPT } from "../../components/backup-scripts";

const UUID_12 = "0b3e5a1e-1111-4a4a-8a8a-000000000012";
const inputs = {
  tenant: "acme",
  name: "mx1",
  stack: "acme",
  serviceId: 10001,
  serverMark: "pm-abc",
  template: "debian-13",
  builtWith: "debian-13",
};
const state = (over: Record<string, unknown> = {}) => ({ ...inputs, image: UUID_12, reinstalledAt: "", ...over }) as never;

async function printed(fn: () => Promise<unknown>): Promise<{ value: unknown; lines: string }> {
  const lines: string[] = [];
  const spy = jest.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
  try {
    return { value: await fn(), lines: lines.join("\n") };
  } finally {
    spy.mockRestore();
  }
}

describe("OsImage diff", () => {
  test("the same image: no change, nothing said", async () => {
    const r = await printed(() => osImage.diff!("10001", state(), { ...inputs } as never));
    expect(r.value).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    expect(r.lines).toBe("");
  });

  test("another image: an update of the same server (no replace), and the preview says what a reinstall does", async () => {
    const r = await printed(() => osImage.diff!("10001", state(), { ...inputs, template: "debian-12" } as never));
    expect(r.value).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(r.lines).toMatch(/the image changes from debian-13 to debian-12: server 10001 is reinstalled in place/);
    expect(r.lines).toMatch(/disk is wiped/);
    expect(r.lines).toMatch(/main and sending IPs and their warm-up stay, nothing is bought or released/);
    expect(r.lines).toMatch(/backed up .* restored before MailU starts/);
  });

  test("the UUID of the image it runs already is no reinstall; a new server (replaced Instance) is a new record", async () => {
    expect(await osImage.diff!("10001", state(), { ...inputs, template: UUID_12 } as never)).toMatchObject({ replaces: [] });
    const same = await printed(() => osImage.diff!("10001", state(), { ...inputs, template: UUID_12 } as never));
    expect(same.lines).toBe("");
    expect((await osImage.diff!("10001", state(), { ...inputs, serviceId: 10002 } as never)).replaces).toEqual(["serviceId"]);
    expect((await osImage.diff!("10001", state(), { ...inputs, serviceId: UNKNOWN } as never)).replaces).toEqual(["serviceId"]);
  });

  test("a new mark or builtWith is recorded without a reinstall", async () => {
    const r = await printed(() => osImage.diff!("10001", state(), { ...inputs, serverMark: "pm-def" } as never));
    expect(r.value).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(r.lines).toBe("");
  });
});

describe("OsImage check", () => {
  test("recording the image a server was bought with says nothing; another image on create is a reinstall, said", async () => {
    const plain = await printed(() => osImage.check!({} as never, { ...inputs } as never));
    expect(plain.lines).toBe("");
    expect((plain.value as { failures?: unknown }).failures).toBeUndefined();
    const other = await printed(() => osImage.check!({} as never, { ...inputs, template: "debian-12" } as never));
    expect(other.lines).toMatch(/from debian-13 to debian-12: server 10001 is reinstalled in place/);
    const unknown = await printed(() => osImage.check!({} as never, { ...inputs, builtWith: UNKNOWN } as never));
    expect(unknown.lines).toBe("");
  });

  test("bad inputs name the field", async () => {
    const r = (await osImage.check!({} as never, { ...inputs, template: "", serviceId: -1 } as never)) as {
      failures: Array<{ property: string; reason: string }>;
    };
    expect(r.failures.map((f) => f.property).sort()).toEqual(["serviceId", "template"]);
    expect(r.failures[0].reason).toMatch(/^hostwinds\.OsImage acme\/mx1: /);
  });
});

describe("the backup before a reinstall", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pre-reinstall-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** The script with its absolute paths moved under `root`, run by bash. */
  const runIn = (root: string) => {
    const script = preReinstallScript("mx1").replace(/(^|[\s[])\//g, `$1${root}/`);
    try {
      return { code: 0, out: execFileSync("bash", ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
    } catch (e) {
      const x = e as { status: number; stderr: string };
      return { code: x.status, out: x.stderr };
    }
  };

  test("the server's backup script runs when there is one", () => {
    const root = path.join(dir, "with-backup");
    fs.mkdirSync(path.join(root, path.dirname(BACKUP_SCRIPT)), { recursive: true });
    fs.writeFileSync(path.join(root, BACKUP_SCRIPT), "#!/bin/sh\necho backup: done\n", { mode: 0o755 });
    expect(runIn(root)).toEqual({ code: 0, out: expect.stringMatching(/backing up MailU's data on mx1[\s\S]*backup: done/) });
  });

  test("MailU data without a backup step stops the reinstall; no MailU data has nothing to back up", () => {
    const root = path.join(dir, "data-only");
    fs.mkdirSync(path.join(root, "mailu", "mail"), { recursive: true });
    expect(runIn(root)).toEqual({
      code: 3,
      out: expect.stringMatching(/holds MailU data but has no backup step.*Nothing was reinstalled/),
    });
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    expect(runIn(empty)).toEqual({ code: 0, out: expect.stringMatching(/no MailU data on mx1: nothing to back up/) });
    expect(NO_REINSTALL_SCRIPT).toMatch(/^echo /);
  });
});
