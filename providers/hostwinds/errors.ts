/**
 * The one error type of the Hostwinds boundary. It names the action and
 * Hostwinds' own message and says whether trying again can help. It never
 * carries the API key or a raw response body.
 */
export class HostwindsError extends Error {
  override readonly name = "HostwindsError";
  constructor(
    /** The API action, e.g. "add_instance". */
    readonly action: string,
    /** What Hostwinds (or the network) said, already free of secrets. */
    readonly detail: string,
    /** True when the same request may succeed later (rate limit, 5xx, network). */
    readonly retryable: boolean,
    /** Extra words for the user: what to do next. */
    readonly hint?: string,
  ) {
    super(`Hostwinds ${action}: ${detail}${retryable ? " (temporary)" : ""}${hint ? `. ${hint}` : ""}`);
  }
}
