/**
 * Cutting arrays podindex never reads out of an object's JSON before it is parsed.
 *
 * A realistic pod is 16 KB of JSON, and podindex keeps a record of a few hundred bytes of it. The
 * largest parts it does not read are arrays: `managedFields` (server-side apply's record of who set
 * which field, about 7 KB and the densest part, each field a nested object), the containers, the
 * volumes and the container statuses. client-go's informers drop such fields after decoding
 * (`cache.TransformStripManagedFields`, or a TransformFunc); here they are cut from the JSON, so
 * they are neither parsed nor collected. Each cut array reads as `[]`.
 *
 * Hand-written (no library skips a JSON value without parsing it faster than JSON.parse): it only
 * needs to find the keys and where an array ends, skipping strings.
 *
 * It reads text (a list page, which the feed keeps as text: see PagedFeed's #get) or bytes (a watch
 * line). A watch line is cut from its bytes and only what is kept is decoded: decoding each 16 KB
 * line first made two thirds of what the watch path allocates, and at 1,000 updates a second three
 * times as many young-generation collections, each a pause of the event loop forward-auth runs on.
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

/** The index of the closing quote of the JSON string whose opening quote is at `at`, in bytes, or -1. */
function endOfStringBytes(json: Buffer, at: number): number {
  for (let i = at + 1; i < json.length; i++) {
    const c = json[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return -1;
}

/**
 * endOfArray, in bytes (UTF-8 never uses a quote, backslash or bracket's byte inside a character).
 * Its own loop, not endOfArray's over a function that reads a code: this runs for every byte of the
 * arrays cut, and one loop shared by text and bytes, once it had read both, took about 3× as long
 * (18 → 50–63 µs for a realistic pod's managedFields).
 */
function endOfArrayBytes(json: Buffer, at: number): number {
  let depth = 0;
  for (let i = at; i < json.length; i++) {
    const c = json[i];
    if (c === QUOTE) {
      i = endOfStringBytes(json, i);
      if (i < 0) return -1;
    } else if (c === OPEN) depth++;
    else if (c === CLOSE && --depth === 0) return i + 1;
  }
  return -1;
}

const COLON = 58;

/** JSON's whitespace: space, tab, line feed, carriage return (a char code, or a byte: the same values) */
export const isJsonSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Empties, in JSON text, the arrays under the given keys, at any depth. */
export class ArrayCut {
  readonly #keys: RegExp;
  /** the keys' UTF-8 bytes, by their length */
  readonly #keyBytes: Buffer[][] = [];

  constructor(readonly keys: readonly string[]) {
    this.#keys = new RegExp(`"(?:${keys.map(escapeRegExp).join("|")})"\\s*:`, "g");
    for (const key of keys) {
      const bytes = Buffer.from(key);
      (this.#keyBytes[bytes.length] ??= []).push(bytes);
    }
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

  /** whether json's bytes [start, end) are one of the keys (a loop, not a closure: this runs for every string) */
  #names(json: Buffer, start: number, end: number): boolean {
    const keys = this.#keyBytes[end - start];
    if (keys) for (const key of keys) if (json.compare(key, 0, key.length, start, end) === 0) return true;
    return false;
  }

  /**
   * apply, on JSON's UTF-8 bytes: the text, decoded but for the arrays it empties. It walks the
   * strings from the start (a key is a string followed by a colon), so no string is taken for a key.
   */
  applyToBytes(json: Buffer): string {
    let out = "";
    let from = 0;
    for (let i = json.indexOf(QUOTE); i >= 0; i = json.indexOf(QUOTE, i)) {
      const close = endOfStringBytes(json, i);
      if (close < 0) break;
      const named = this.#names(json, i + 1, close);
      i = close + 1;
      if (!named) continue;
      let value = i;
      while (isJsonSpace(json[value])) value++;
      if (json[value++] !== COLON) continue;
      while (isJsonSpace(json[value])) value++;
      const end = json[value] === OPEN ? endOfArrayBytes(json, value) : -1;
      if (end < 0) continue;
      out += `${json.toString("utf8", from, value)}[]`;
      from = i = end;
    }
    return out + json.toString("utf8", from);
  }
}
