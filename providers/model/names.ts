/**
 * The shapes of names and addresses, in one place: tenant and server ids,
 * host and domain names, DKIM selectors, IPv4 addresses. Schemas and record
 * builders use these; each says its own message.
 */

/** Tenant ids and logical server names: 1-32 lowercase letters, digits or dashes, no dash at either end. */
export const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
/** A fully qualified lowercase host or domain name. */
export const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** The same, in any letter case (reverse DNS names as Hostwinds accepts them). */
export const HOSTNAME_ANY_CASE = new RegExp(HOSTNAME.source, "i");
/** A DKIM selector such as pm1. */
export const DKIM_SELECTOR = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A dotted-quad IPv4 address. */
export const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
