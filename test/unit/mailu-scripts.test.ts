/** What MailuInstall sends over SSH: the file bundle on stdin, masking, and when a step reruns. */
import { accountsInput, fileBundle } from "../../components/mailu-scripts";
import { scrub } from "../../providers/lib/secrets";
import { CommandInputs, provider } from "../../providers/ssh/command";

describe("MailU install over SSH", () => {
  test("the bundle carries each file's path, mode and exact bytes, one line each", () => {
    const files = [
      { path: "/mailu/mailu.env", content: "SECRET_KEY=abc\nDOMAIN=acme-mail.com\n", mode: "0600" as const },
      { path: "/etc/penguinmails/interfaces.in", content: "iface @NIC@ inet static\n", mode: "0600" as const },
    ];
    const lines = fileBundle(files).trimEnd().split("\n");
    expect(lines.map((l) => l.split(" ").slice(0, 2))).toEqual([
      ["/mailu/mailu.env", "0600"],
      ["/etc/penguinmails/interfaces.in", "0600"],
    ]);
    expect(lines.map((l) => Buffer.from(l.split(" ")[2], "base64").toString("utf8"))).toEqual(files.map((f) => f.content));
  });

  test("paths that could escape or split a line are refused", () => {
    for (const p of ["relative/path", "/mailu/../etc/shadow", "/mailu/a b", "/mailu/x\n/etc/y"]) {
      expect(() => fileBundle([{ path: p, content: "", mode: "0600" }])).toThrow(/not a plain absolute path/);
    }
  });

  test("secrets are masked wherever they appear, longest first", () => {
    expect(scrub("pw=hunter2hunter2; key=hunter2hunter2x", ["hunter2hunter2", "hunter2hunter2x"])).toBe("pw=[secret]; key=[secret]");
    expect(scrub("short ab", ["ab"])).toBe("short ab"); // too short to mask without destroying the text
  });

  test("the accounts step's input: every domain, its DMARC and TLS report addresses (to the postmaster), then the postmaster", () => {
    expect(accountsInput(["a-mail.com", "b-mail.com"], "admin", "Pw123456")).toBe(
      [
        "domain a-mail.com",
        "domain b-mail.com",
        "alias dmarc-reports a-mail.com admin@a-mail.com",
        "alias tls-reports a-mail.com admin@a-mail.com",
        "alias dmarc-reports b-mail.com admin@a-mail.com",
        "alias tls-reports b-mail.com admin@a-mail.com",
        "admin admin a-mail.com Pw123456",
        "",
      ].join("\n"),
    );
  });

  test("a step reruns for a new script, stdin or trigger; new credentials are only stored; a new host replaces it", async () => {
    const base: CommandInputs = {
      description: "MailU files on mx1 (acme)",
      connection: { host: "198.51.100.10", port: 22, user: "root", password: "pw-one-1234" },
      create: "echo hi",
      stdin: "a",
      triggers: [],
      redact: [],
      timeoutSeconds: 1200,
    };
    const diff = (news: Partial<CommandInputs>) => provider.diff!("id", { ...base, stdout: "", stderr: "" }, { ...base, ...news });
    expect(await diff({})).toMatchObject({ changes: false, replaces: [] });
    expect(await diff({ stdin: "b" })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff({ triggers: [1] })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff({ connection: { ...base.connection, password: "pw-two-1234" } })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff({ connection: { ...base.connection, host: "198.51.100.11" } })).toMatchObject({
      changes: true,
      replaces: ["connection"],
    });
    const stored = await provider.update!(
      "id",
      { ...base, stdout: "old", stderr: "" },
      { ...base, connection: { ...base.connection, password: "pw-two-1234" } },
    );
    expect(stored.outs).toMatchObject({ stdout: "old" }); // nothing ran: no connection was attempted
  });
});
