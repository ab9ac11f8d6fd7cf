import type { KObject } from "./resources";

/**
 * An object's JSON, kept for as long as the object lives. Stored objects never change (a write
 * stores a new one), so each is serialised once for every list and watch that sends it, as
 * kube-apiserver's watch cache keeps its objects' serialisations.
 */
const encoded = new WeakMap<object, string>();
export function encode(o: object): string {
  let text = encoded.get(o);
  if (text === undefined) encoded.set(o, (text = JSON.stringify(o)));
  return text;
}

/** `JSON.stringify({ ...head, items })`, with the items' kept serialisations */
export const listJson = (head: KObject, items: readonly KObject[]) =>
  `${JSON.stringify(head).slice(0, -1)},"items":[${items.map(encode).join(",")}]}`;
