/** Tenants as the API shows them, and what differs between two configs of one tenant (for a 409). */
import { Tenant, declaredMonthlyCost } from "../providers/model/tenant";
import { defaultPriceBook } from "../providers/hostwinds/catalog";

/** Each path where `b` differs from `a` (`servers[0].sendingIps: 2 → 3`), at most `max`. */
export function differences(a: unknown, b: unknown, at = "", max = 20): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, p: string) => {
    if (out.length >= max) return;
    const bothObjects = x !== null && y !== null && typeof x === "object" && typeof y === "object" && Array.isArray(x) === Array.isArray(y);
    if (bothObjects) {
      const keys = Array.isArray(x)
        ? Array.from({ length: Math.max(x.length, (y as unknown[]).length) }, (_, i) => i)
        : [...new Set([...Object.keys(x as object), ...Object.keys(y as object)])].sort();
      for (const k of keys)
        walk(
          (x as Record<string | number, unknown>)[k],
          (y as Record<string | number, unknown>)[k],
          typeof k === "number" ? `${p}[${k}]` : p ? `${p}.${k}` : k,
        );
      return;
    }
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${p || "(the whole config)"}: ${show(x)} → ${show(y)}`);
  };
  walk(a, b, at);
  return out;
}
const show = (v: unknown) => (v === undefined ? "absent" : JSON.stringify(v));

/** The monthly cost the config declares, priced with the checked-in price list (as the program judges budgets). */
export const declaredCost = (t: Tenant) => declaredMonthlyCost(t, defaultPriceBook()).totalUsd;
