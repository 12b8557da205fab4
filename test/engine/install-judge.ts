/**
 * What an install left on a stand-in host, judged by that Debian suite's own tools: its dpkg, its
 * Compose (the one the packages step chose, `config -q` on MailU's project), Postfix's `postconf`
 * and `postfix check`, `iptables-restore --test` on the firewall rules, and `systemd-analyze
 * verify` on our units (systemd is installed with the suite's own apt for it: a minimal Debian has
 * none). Used by the install test of each suite (mail-server.test.ts: 13, install-debian12.test.ts: 12).
 */
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { COMPOSE_FILE, FIREWALL_RULES, FIREWALL_UNIT } from "../../components/mailu-scripts";
import { WARMUP_SERVICE, WARMUP_TIMER } from "../../components/warmup-cap";

export interface InstallJudgement {
  /** VERSION_ID of /etc/os-release. */
  debian: string;
  /** The Compose the packages step chose (COMPOSE_FILE). */
  compose: string;
  /** `<package> <status>` for the install's packages. */
  packages: string[];
  /** Compose's own validation of /mailu/docker-compose.yml with the chosen Compose: exit code and output. */
  composeConfig: string;
  postfix: string;
  firewall: string;
  units: string;
  /** Calls of a stand-in Compose asking its version (the install decides once per server instead). */
  versionProbes: number;
}

const run = async (hosts: SshHostSim, ip: string, command: string): Promise<string> => {
  const r = await hosts.run(ip, command);
  return `${r.code} ${(r.stdout + r.stderr).trim()}`.trim();
};

export async function judgeInstall(hosts: SshHostSim, ip: string): Promise<InstallJudgement> {
  const versionProbes = hosts.calls(ip).filter((c) => c.args.includes("version")).length;
  const systemd = await hosts.run(
    ip,
    "command -v systemd-analyze >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd; } >/tmp/systemd-install.log 2>&1 || { tail -n 20 /tmp/systemd-install.log; exit 1; }",
  );
  if (systemd.code !== 0) throw new Error(`installing systemd on ${ip} for systemd-analyze failed: ${systemd.stdout}${systemd.stderr}`);
  return {
    debian: (await hosts.run(ip, ". /etc/os-release && echo $VERSION_ID")).stdout.trim(),
    compose: (hosts.file(ip, COMPOSE_FILE) ?? "").trim(),
    packages: (
      await hosts.run(
        ip,
        "dpkg-query -W -f '${Package} ${Status}\\n' docker.io docker-cli docker-compose postfix iptables ifupdown 2>/dev/null",
      )
    ).stdout
      .trim()
      .split("\n")
      .sort(),
    // The real Compose of the suite, not the stand-in shim in /usr/local/sbin.
    composeConfig: await run(
      hosts,
      ip,
      `cd /mailu && if [ "$(cat ${COMPOSE_FILE})" = "docker compose" ]; then /usr/libexec/docker/cli-plugins/docker-compose -p mailu config -q; else /usr/bin/docker-compose -p mailu config -q; fi`,
    ),
    postfix: await run(hosts, ip, "postconf -n >/dev/null && postfix check && echo postfix-ok"),
    firewall: await run(
      hosts,
      ip,
      `iptables-restore --test --noflush < ${FIREWALL_RULES} && iptables -S DOCKER-USER | grep -c PM-MAILU-OUT`,
    ),
    units: await run(
      hosts,
      ip,
      `SYSTEMD_LOG_LEVEL=warning systemd-analyze verify ${FIREWALL_UNIT} /etc/systemd/system/${WARMUP_SERVICE} /etc/systemd/system/${WARMUP_TIMER} && echo units-ok`,
    ),
    versionProbes,
  };
}
