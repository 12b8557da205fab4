/**
 * The type tokens of the project's dynamic resources, as the engine names them
 * (`pulumi-nodejs:dynamic/<module>:<name>`), in the model so that readers of a
 * stack's resources (the policy pack, the state checks) need not load the
 * resource classes and `@pulumi/pulumi` to know them. Each resource module
 * re-exports its own.
 */
export const INSTANCE_TYPE = "pulumi-nodejs:dynamic/hostwinds:Instance";
export const SECONDARY_IP_TYPE = "pulumi-nodejs:dynamic/hostwinds:SecondaryIp";
export const OS_IMAGE_TYPE = "pulumi-nodejs:dynamic/hostwinds:OsImage";
export const TENANT_PLAN_TYPE = "pulumi-nodejs:dynamic/penguinmails:TenantPlan";
export const DNS_RECORD_TYPE = "pulumi-nodejs:dynamic/cloudflare:DnsRecord";
