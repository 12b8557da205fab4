/**
 * What this process has ordered (any API, in this run: the engine starts one provider process per
 * run), so that an error saying "Nothing was bought." stays true of the run, not only of the
 * resource that failed: a refused adoption after another resource of the same run bought a server
 * says so. Purchases are recorded when sent, since an order whose answer was lost may have taken.
 */
import type * as pulumi from "@pulumi/pulumi";

const sent: string[] = [];

export function recordPurchase(what: string): void {
  sent.push(what);
}

/** The message, with "Nothing was bought" narrowed to the resource when this run ordered something already. */
export function truthfulAboutPurchases(message: string, ordered: readonly string[] = sent): string {
  if (!ordered.length) return message;
  return message.replace(
    /Nothing was bought( or changed)?\./,
    (_, more: string | undefined) => `Nothing was bought for it${more ?? ""}; this run had already ordered: ${ordered.join(", ")}.`,
  );
}

/** The provider, its errors made true of the run (see above); everything else unchanged. */
export function withTruthfulPurchases<I, O>(p: pulumi.dynamic.ResourceProvider<I, O>): pulumi.dynamic.ResourceProvider<I, O> {
  const fix = (e: unknown): never => {
    if (e instanceof Error) e.message = truthfulAboutPurchases(e.message);
    throw e;
  };
  return {
    ...p,
    create: (inputs) => p.create(inputs).catch(fix),
    ...(p.update ? { update: (id: string, olds: O, news: I) => p.update!(id, olds, news).catch(fix) } : {}),
  };
}
