/**
 * Edits of a stack file (`stacks/Pulumi.<tenant>.yaml`) that keep what a person wrote: its
 * comments, key order and layout. The file is read as a `yaml` Document and a config value is
 * changed in place, node by node, so a reviewed diff shows only the values that changed.
 */
import { Document, isMap, isScalar, isSeq, parseDocument } from "yaml";

/** The stack file's text as a Document; a syntax error stops here, naming the file. */
export function parseStackFile(text: string, file = "the stack file"): Document {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
  return doc;
}

/** The Document as stack-file text: as Prettier writes YAML (flow lists as `[a, b]`), long lines kept whole. */
export function stackFileText(doc: Document): string {
  return doc.toString({ lineWidth: 120, flowCollectionPadding: false });
}

/** The stack file's `config:` map as plain values (empty when it has none). */
export function stackConfig(doc: Document): Record<string, unknown> {
  return ((doc.toJS() as { config?: Record<string, unknown> } | null)?.config ?? {}) as Record<string, unknown>;
}

/** Sets `config.<key>` to `value`, changing only the nodes whose values differ. */
export function setStackConfig(doc: Document, key: string, value: unknown): void {
  if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as typeof doc.contents;
  if (!doc.has("config")) doc.set("config", doc.createNode({}));
  const config = doc.get("config", true);
  if (!isMap(config)) throw new Error("the stack file's config is not a map");
  const node = config.get(key, true);
  if (node === undefined) config.set(key, doc.createNode(value));
  else config.set(key, merged(doc, node, value));
}

/** `node` made to hold `value`: the same node (comments kept) where the kinds match, a new one where they do not. */
function merged(doc: Document, node: unknown, value: unknown): unknown {
  if (isMap(node) && value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = value as Record<string, unknown>;
    for (const pair of [...node.items]) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!(k in entries) || entries[k] === undefined) node.delete(pair.key);
    }
    for (const [k, v] of Object.entries(entries)) {
      if (v === undefined) continue;
      const old = node.get(k, true);
      node.set(k, old === undefined ? doc.createNode(v) : merged(doc, old, v));
    }
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    value.forEach((v, i) => {
      const old = node.get(i, true);
      if (old === undefined) node.add(doc.createNode(v));
      else node.set(i, merged(doc, old, v));
    });
    while (node.items.length > value.length) node.delete(node.items.length - 1);
    return node;
  }
  if (isScalar(node) && (value === null || typeof value !== "object")) {
    node.value = value;
    return node;
  }
  return doc.createNode(value);
}
