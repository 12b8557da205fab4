/**
 * The one secret scrubber: every text that may hold a credential, a password or a key on its way
 * to a log, an error or a progress line goes through `scrub` first (API errors, SSH output,
 * command lines).
 */

/** Replaces every occurrence of each secret (of 4 characters or more, longest first) in `text` by `[secret]`. */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text;
  const list = secrets.filter((s): s is string => !!s && s.length >= 4).sort((a, b) => b.length - a.length);
  for (const s of list) out = out.split(s).join("[secret]");
  return out;
}
