/**
 * The backup step's files and settings: restic's env file refuses what could
 * break out of it, the settings name the key that is wrong, each server has
 * its own repository, and real tools judge the rest: bash parses the scripts,
 * systemd-analyze verifies the units (and a bad schedule fails it).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  BACKUP_SERVICE,
  BACKUP_TIMER,
  BackupFiles,
  backupEnvFile,
  backupFiles,
  backupScript,
  backupService,
  backupStepScript,
  backupTimer,
  restoreScript,
} from "../../components/backup-scripts";
import { parseBackupSettings, repositoryHasPassword, serverRepository } from "../../components/mailu-backup";
import { WRITE_FILES } from "../../components/mailu-scripts";

const files: BackupFiles = {
  repository: "s3:https://s3.example.com/pm-backups/acme/mx1",
  password: "p".repeat(40),
  env: { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret/key+example" },
  host: "mx1.acme-mail.com",
  schedule: "*-*-* 03:00:00",
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 6,
};

describe("backup settings", () => {
  test("defaults, and every problem named by its key", () => {
    expect(parseBackupSettings("acme", { repository: "s3:https://s3.example.com/b" }, undefined).settings).toEqual({
      repository: "s3:https://s3.example.com/b",
      schedule: "*-*-* 03:00:00",
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 6,
      maxAgeHours: 26,
    });
    expect(() => parseBackupSettings("acme", { repository: "/srv/backups", keepDaily: 0, bucket: "x" }, { A: 1 })).toThrow(
      /stack acme: penguinmails-infra:backup\.repository: must be a restic repository URL.*; penguinmails-infra:backup\.keepDaily: .*; penguinmails-infra:backup: Unrecognized key: "bucket"; penguinmails-infra:backupEnv: must be an object/,
    );
  });

  test("one repository per server; a password in the URL is noticed", () => {
    expect(serverRepository("s3:https://s3.example.com/b/", "acme", "mx1")).toBe("s3:https://s3.example.com/b/acme/mx1");
    expect(serverRepository("rest:https://u:p@backup.example.com/", "acme", "mx1")).toBe("rest:https://u:p@backup.example.com/acme/mx1/");
    expect([
      repositoryHasPassword("rest:https://u:p@h/"),
      repositoryHasPassword("s3:https://h/b"),
      repositoryHasPassword("sftp:u@h:/x"),
    ]).toEqual([true, false, false]);
  });
});

describe("backup files", () => {
  test("the env file: restic's settings, then the backend's, quoted; nothing that could break out of it", () => {
    expect(backupEnvFile(files)).toBe(
      '# Written by penguinmails-infra (MailuBackup).\nRESTIC_REPOSITORY="s3:https://s3.example.com/pm-backups/acme/mx1"\nRESTIC_PASSWORD_FILE="/etc/penguinmails/backup.password"\nRESTIC_CACHE_DIR="/var/cache/restic"\nAWS_ACCESS_KEY_ID="AKIDEXAMPLE"\nAWS_SECRET_ACCESS_KEY="secret/key+example"\n',
    );
    expect(() => backupEnvFile({ ...files, env: { "bad-name": "x", RESTIC_PASSWORD: "x", OK: 'a"; rm -rf /' } })).toThrow(
      /backupEnv key "bad-name" is not an environment variable name.*RESTIC_PASSWORD is set by the backup step itself.*backupEnv OK: the value may not contain/,
    );
    expect(() => backupEnvFile({ ...files, repository: "s3:https://h/b $(reboot)" })).toThrow(/backup.repository may not contain/);
  });

  test("the password and env file are root-only; the password is in no script", () => {
    const all = backupFiles(files);
    expect(all.map((f) => `${f.path} ${f.mode}`)).toEqual([
      "/etc/penguinmails/backup.env 0600",
      "/etc/penguinmails/backup.password 0600",
      "/usr/local/sbin/penguinmails-backup 0700",
      "/usr/local/sbin/penguinmails-restore 0700",
      "/etc/systemd/system/penguinmails-backup.service 0644",
      "/etc/systemd/system/penguinmails-backup.timer 0644",
    ]);
    for (const f of all.filter((x) => !x.path.startsWith("/etc/penguinmails/"))) {
      expect(f.content).not.toContain(files.password);
      expect(f.content).not.toContain(files.env.AWS_SECRET_ACCESS_KEY);
    }
  });

  test("bash parses every script", () => {
    for (const script of [backupScript(files), restoreScript(files), backupStepScript(WRITE_FILES, files.host)]) {
      const r = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
      expect([r.status, r.stderr]).toEqual([0, ""]);
    }
  });

  test("what the backup keeps and leaves out", () => {
    const s = backupScript(files);
    expect(s).toContain("sqlite3 /mailu/data/main.db \".backup '/var/backups/penguinmails/main.db'\"");
    expect(s).toContain("--exclude /mailu/redis");
    expect(s).toContain("/mailu /var/backups/penguinmails");
    expect(s).toContain(
      "restic forget --host mx1.acme-mail.com --tag penguinmails --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune",
    );
  });

  const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
  (analyze ? test : test.skip)("systemd-analyze verifies the units, and refuses a bad schedule", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pm-units-"));
    try {
      // systemd's own units (timers.target, sysinit.target) for the dependencies, then ours.
      fs.cpSync("/usr/lib/systemd/system", path.join(root, "usr/lib/systemd/system"), { recursive: true });
      fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
      fs.mkdirSync(path.join(root, "usr/local/sbin"), { recursive: true });
      fs.writeFileSync(path.join(root, "usr/local/sbin/penguinmails-backup"), backupScript(files), { mode: 0o700 });
      const verify = (schedule: string) => {
        fs.writeFileSync(path.join(root, "etc/systemd/system", BACKUP_SERVICE), backupService());
        fs.writeFileSync(path.join(root, "etc/systemd/system", BACKUP_TIMER), backupTimer({ schedule }));
        return spawnSync(
          "systemd-analyze",
          ["verify", `--root=${root}`, `/etc/systemd/system/${BACKUP_TIMER}`, `/etc/systemd/system/${BACKUP_SERVICE}`],
          {
            encoding: "utf8",
          },
        );
      };
      expect(verify("*-*-* 03:00:00")).toMatchObject({ status: 0, stderr: "" });
      expect(verify("Mon..Fri 02:30")).toMatchObject({ status: 0 });
      const bad = verify("every night");
      expect([bad.status, bad.stderr]).toEqual([1, expect.stringContaining("Failed to parse calendar specification")]);
      expect(() => execFileSync("systemd-analyze", ["calendar", "every night"], { stdio: "ignore" })).toThrow();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
    expect(() => backupTimer({ schedule: "daily\nExecStart=/bin/sh" })).toThrow(/not a systemd calendar expression/);
  });
});
