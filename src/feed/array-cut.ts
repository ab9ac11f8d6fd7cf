/**
 * Cutting arrays podindex never reads out of an object's JSON before it is parsed.
 *
 * A realistic pod is 16 KB of JSON, and podindex keeps a record of a few hundred bytes of it. The
 * largest parts it does not read are arrays: `managedFields` (server-side apply's record of who set
 * which field, about 7 KB and the densest part, each field a nested object), the containers, the
 * volumes and the container statuses. client-go's informers drop such fields after decoding
 * (`cache.TransformStripManagedFields`, or a TransformFunc); here they are cut from the text, so
 * they are neither parsed nor collected. Each cut array reads as `[]`.
 *
 * Hand-written (no library skips a JSON value without parsing it faster than JSON.parse): it only
 * needs to find the keys and where an array ends, skipping strings.
 */

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN = 91; // [
const CLOSE = 93; // ]

/** Where the JSON string that opens at `at` ends (the index of its closing quote), or -1. */
function endOfString(json: string, at: number): number {
  for (let end = json.indexOf('"', at + 1); end >= 0; end = json.indexOf('"', end + 1)) {
    let backslashes = 0;
    while (json.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
  return -1;
}

/** The index just past the JSON array that opens at `at`, or -1 if it does not end. */
function endOfArray(json: string, at: number): number {
  let depth = 0;
  for (let i = at; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      i = endOfString(json, i);
      if (i < 0) return -1;
    } else if (c === OPEN) depth++;
    else if (c === CLOSE && --depth === 0) return i + 1;
  }
  return -1;
}

/** JSON's whitespace: space, tab, line feed, carriage return (a char code, or a byte: the same values) */
export const isJsonSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Empties, in JSON text, the arrays under the given keys, at any depth. */
export class ArrayCut {
  readonly #keys: RegExp;

  constructor(readonly keys: readonly string[]) {
    this.#keys = new RegExp(`"(?:${keys.map(escapeRegExp).join("|")})"\\s*:`, "g");
  }

  /**
   * The same JSON with the value of each of the keys emptied to `[]`. A value that is not an array
   * (an annotation of that name is a string) is left as it is, and so is text that does not end
   * the array: JSON.parse then reports it as it would have.
   */
  apply(json: string): string {
    const keys = this.#keys;
    keys.lastIndex = 0;
    let out = "";
    let from = 0;
    for (let m = keys.exec(json); m; m = keys.exec(json)) {
      let value = m.index + m[0].length;
      while (isJsonSpace(json.charCodeAt(value))) value++;
      // a backslash before its quote: the text is inside some other string, not a key
      const isKey = json.charCodeAt(m.index - 1) !== BACKSLASH;
      const end = isKey && json.charCodeAt(value) === OPEN ? endOfArray(json, value) : -1;
      if (end < 0) continue;
      out += `${json.slice(from, value)}[]`;
      from = keys.lastIndex = end;
    }
    return from === 0 ? json : out + json.slice(from);
  }
}
