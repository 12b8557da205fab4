/**
 * What the SSH-host stand-in's `docker` accepts, and what the unit tests check
 * our files against: MailU's documented mailu.env keys and Compose's keys.
 * A key we write that is not here is a typo until shown otherwise.
 */

/**
 * MailU 2024.06: docs/configuration.rst and core/admin/mailu/configuration.py, summarized in
 * ../shared/reference/mailu-and-dns.md §1; LOG_DRIVER and COMPOSE_PROJECT_NAME from the setup flavor's mailu.env.
 */
export const MAILU_ENV_KEYS: ReadonlySet<string> = new Set([
  "SECRET_KEY", "SUBNET", "SUBNET6", "DOMAIN", "HOSTNAMES", "POSTMASTER", "TLS_FLAVOR", "AUTH_RATELIMIT_IP", "AUTH_RATELIMIT_USER",
  "AUTH_RATELIMIT_EXEMPTION", "DISABLE_STATISTICS", "ADMIN", "WEBMAIL", "API", "API_TOKEN", "WEB_API", "WEBDAV", "ANTIVIRUS", "SCAN_MACROS",
  "MESSAGE_SIZE_LIMIT", "MESSAGE_RATELIMIT", "MESSAGE_RATELIMIT_EXEMPTION", "RELAYNETS", "RELAYHOST", "RELAYUSER", "RELAYPASSWORD",
  "OUTBOUND_TLS_LEVEL", "DMARC_RUA", "DMARC_RUF", "PORTS", "INITIAL_ADMIN_ACCOUNT", "INITIAL_ADMIN_DOMAIN", "INITIAL_ADMIN_PW",
  "INITIAL_ADMIN_MODE", "DKIM_SELECTOR", "DKIM_PATH", "WELCOME", "WELCOME_SUBJECT", "WELCOME_BODY", "TZ", "LOG_LEVEL", "REAL_IP_HEADER",
  "REAL_IP_FROM", "COMPRESSION", "COMPRESSION_LEVEL", "LOG_DRIVER", "COMPOSE_PROJECT_NAME",
]);

/** The compose-spec's keys: top level, a service, a network. */
export const COMPOSE_KEYS = {
  top: new Set(["version", "name", "include", "services", "networks", "volumes", "secrets", "configs"]),
  service: new Set([
    "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command", "configs",
    "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search",
    "domainname", "entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit",
    "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid",
    "pids_limit", "platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "pull_policy", "read_only", "restart",
    "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
    "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
  ]),
  network: new Set(["name", "driver", "driver_opts", "ipam", "external", "internal", "enable_ipv6", "attachable", "labels"]),
};

/** Images must name an exact release: MailU's `2024.06.N`, others at least a tag. */
export const PINNED_MAILU_IMAGE = /^ghcr\.io\/mailu\/[a-z]+:2024\.06\.\d+$/;
