/**
 * Plan tiers and their default limits. The policy pack enforces them; policy
 * config (`--policy-pack-config`) can override any figure per tier.
 */
export const TIERS = ["starter", "growth", "scale"] as const;
export type Tier = (typeof TIERS)[number];

export interface TierLimits {
  /** Sending (secondary) IPs across all the tenant's servers. */
  maxSendingIps: number;
  /** Secondary IPs on one server. */
  maxIpsPerServer: number;
  /** Mailboxes (SMTP sending accounts) across all the tenant's domains. */
  maxMailboxes: number;
}

export const DEFAULT_TIER_LIMITS: Record<Tier, TierLimits> = {
  starter: { maxSendingIps: 2, maxIpsPerServer: 2, maxMailboxes: 25 },
  growth: { maxSendingIps: 8, maxIpsPerServer: 4, maxMailboxes: 250 },
  scale: { maxSendingIps: 32, maxIpsPerServer: 8, maxMailboxes: 2500 },
};
