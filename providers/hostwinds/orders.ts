/**
 * The IP order journal, kept in Hostwinds itself: before an IP purchase is sent, the time of the
 * order is appended to the server's name (`pm-<tenant>.<server>@<stack>~<t1>.<t2>`, base-36
 * seconds), and the entry is removed when an IP that answers it is claimed by a slot. The name is
 * written and read back with documented actions (edit_instance: PM server-management.md;
 * srvrname in get_instance: HWF), so the record survives any kill of the CLI, the engine or this
 * process, on any backend, and the next run on any machine sees it.
 *
 * What a run learns from it: the number of IP orders sent (or about to be sent) on the server and
 * not yet claimed. Orders a slot in state already waits for (status `purchasing`) are among them;
 * the rest were recorded by a run that died before saving its slot, so the next new slot waits for
 * one of those instead of buying again.
 *
 * An entry is removed only when an IP that answers it is claimed, or when Hostwinds refused the
 * purchase outright. Never because time passed: Hostwinds may hold an order for hours or days
 * (ASSUMPTIONS in wire.ts), and dropping a held order as "never sent" bought the IP a second time
 * (issue 31). An entry whose purchase was never sent (a kill between the journal write and the
 * purchase) therefore keeps one slot pending until an operator who sees no such order in the
 * Hostwinds panel removes the entry from the server's name: waiting costs nothing, paying twice does.
 */
import { parseServerName } from "./inputs";
import type { Session } from "./session";

const SEP = "~";

/** A server name split into its owner mark and its journal of open IP orders (epoch ms, oldest first). */
export function splitName(srvrname: string): { mark: string; orders: number[] } {
  const i = srvrname.indexOf(SEP);
  if (i < 0) return { mark: srvrname, orders: [] };
  const mark = srvrname.slice(0, i);
  // Only a marked name carries a journal; anything else after "~" is part of someone's own name.
  if (!parseServerName(mark)) return { mark: srvrname, orders: [] };
  const orders = srvrname
    .slice(i + 1)
    .split(".")
    .map((t) => parseInt(t, 36) * 1000)
    .filter((n) => Number.isFinite(n) && n > 0)
    .sort((a, b) => a - b);
  return { mark, orders };
}

export function joinName(mark: string, orders: number[]): string {
  return orders.length ? `${mark}${SEP}${orders.map((t) => Math.floor(t / 1000).toString(36)).join(".")}` : mark;
}

/**
 * Changes the journal. Only this process writes it (the server is this stack's, and writes happen
 * under the server's lock), so the name as last read or written here is current: one call a change.
 */
async function rewrite(s: Session, serviceId: number, change: (orders: number[]) => number[]): Promise<number[]> {
  const server = await s.server(serviceId);
  if (!server) throw new Error(`server ${serviceId} is no longer in the account`);
  const { mark, orders } = splitName(server.srvrname);
  const next = change([...orders]);
  const name = joinName(mark, next);
  if (name !== server.srvrname) {
    await s.client.renameInstance(serviceId, name);
    s.renamed(serviceId, name);
  }
  return next;
}

/** Records an order about to be sent; returns its time. Must complete before the purchase is sent. */
export async function recordOrder(s: Session, serviceId: number): Promise<number> {
  const at = Date.now();
  await rewrite(s, serviceId, (o) => [...o, at]);
  return at;
}

const sameSecond = (a: number, b: number) => Math.floor(a / 1000) === Math.floor(b / 1000);

/** Settles the order recorded at `at`: an IP that answers it has been claimed (or it was given up). */
export async function settleOrder(s: Session, serviceId: number, at: number): Promise<void> {
  await rewrite(s, serviceId, (o) => {
    const i = o.findIndex((t) => sameSecond(t, at));
    return i < 0 ? o : [...o.slice(0, i), ...o.slice(i + 1)];
  });
}

/** The open orders no slot in state waits for: sent by a run that died before saving its slot. */
export const orphanOrders = (orders: number[], waitedFor: number[]): number[] =>
  orders.filter((t) => !waitedFor.some((w) => sameSecond(t, w)));
