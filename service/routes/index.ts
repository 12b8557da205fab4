/**
 * Every route of the API, in the order the OpenAPI document lists them. A new topic is a module
 * of routes beside these and one line here.
 */
import { Route } from "../http";
import { CONSOLE_ROUTES } from "./console";
import { INCIDENT_ROUTES } from "./incidents";
import { DOMAIN_ROUTES } from "./domains";
import { MAILBOX_ROUTES } from "./mailboxes";
import { IP_ROUTES } from "./ips";
import { TENANT_ROUTES } from "./tenants";
import { PUBLIC_ROUTES } from "./public";
import { REPORT_ROUTES } from "./reports";
import { REQUEST_ROUTES } from "./requests";
import { TOKEN_ROUTES } from "./tokens";
import { USAGE_ROUTES } from "./usage";
import { WEBHOOK_ROUTES } from "./webhooks";

export const ALL_ROUTES: Route[] = [
  ...PUBLIC_ROUTES,
  ...TENANT_ROUTES,
  ...REQUEST_ROUTES,
  ...IP_ROUTES,
  ...DOMAIN_ROUTES,
  ...MAILBOX_ROUTES,
  ...REPORT_ROUTES,
  ...WEBHOOK_ROUTES,
  ...INCIDENT_ROUTES,
  ...USAGE_ROUTES,
  ...CONSOLE_ROUTES,
  ...TOKEN_ROUTES,
];
