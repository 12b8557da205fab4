/**
 * The IP order journal, kept in Hostwinds itself: before an IP purchase is sent, the time of the
 * order is appended to the server's name (the mark, inputs.ts, then 5 base-36 characters an order), and the entry is removed when an IP that answers it is claimed by a slot. The name is
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
import { MARK_LENGTH, MAX_SERVER_NAME, parseServerName } from "./inputs";
import type { Session } from "./session";

/**
 * Each open order is 5 base-36 characters appended to the 17-character mark: its time in seconds
 * modulo 36^5 (about 700 days), read back as the latest such second not after now. Fixed width and
 * no separator keep the name within the 32 characters and the characters any panel keeps
 * (inputs.ts, ASSUMPTIONS: server names), which allows three open orders on a server at a time.
 */
const ENTRY = 5;
const WRAP_S = 36 ** ENTRY;
export const MAX_OPEN_ORDERS = (MAX_SERVER_NAME - MARK_LENGTH) / ENTRY;

/** A server name split into its owner mark and its journal of open IP orders (epoch ms, oldest first). */
export function splitName(srvrname: string, now = Date.now()): { mark: string; orders: number[] } {
  // Only a marked name carries a journal; anything else is someone's own name.
  const parsed = parseServerName(srvrname);
  if (!parsed) return { mark: srvrname, orders: [] };
  const nowS = Math.floor(now / 1000);
  const orders: number[] = [];
  for (let i = MARK_LENGTH; i + ENTRY <= srvrname.length; i += ENTRY) {
    const v = parseInt(srvrname.slice(i, i + ENTRY), 36);
    orders.push((nowS - ((((nowS - v) % WRAP_S) + WRAP_S) % WRAP_S)) * 1000);
  }
  return { mark: parsed.mark, orders: orders.sort((a, b) => a - b) };
}

export function joinName(mark: string, orders: number[]): string {
  if (orders.length > MAX_OPEN_ORDERS)
    throw new Error(
      `server ${mark}: ${orders.length - 1} IP orders are already open on it, and its name holds at most ${MAX_OPEN_ORDERS}; ` +
        "nothing more is ordered until one arrives: run `pulumi up` again later",
    );
  return (
    mark +
    [...orders]
      .sort((a, b) => a - b)
      .map((t) => (Math.floor(t / 1000) % WRAP_S).toString(36).padStart(ENTRY, "0"))
      .join("")
  );
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
