import { badRequest } from "./errors";
import type { KObject } from "./resources";

/** metav1.MicroTime's wire layout (Go's RFC3339Micro): exactly 6 fraction digits. */
const LAYOUT = "2006-01-02T15:04:05.000000Z07:00";

const digits = (s: string, n: number) => s.length >= n && /^\d+$/.test(s.slice(0, n));

/** Go's time.ParseError text for `value` against LAYOUT. */
class TimeParseError extends Error {
  constructor(value: string, elem: string, rest: string, message = "") {
    const q = (s: string) => JSON.stringify(s);
    super(
      message
        ? `parsing time ${q(value)}${message}`
        : `parsing time ${q(value)} as ${q(LAYOUT)}: cannot parse ${q(rest)} as ${q(elem)}`,
    );
  }
}

/**
 * Parse as Go's `time.Parse(RFC3339Micro, value)` does, with its error messages, and give the
 * instant in UTC with 6 fraction digits (how a MicroTime is written back).
 */
export function parseMicroTime(value: string): string {
  let rest = value;
  const fail = (elem: string, at = rest) => new TimeParseError(value, elem, at);
  const literal = (ch: string) => {
    if (rest[0] !== ch) throw fail(ch);
    rest = rest.slice(1);
  };
  /** a number of `n` digits (or, when `loose`, 1 or 2), as Go's getnum */
  const num = (elem: string, n: number, loose = false) => {
    const len = loose && !digits(rest.slice(1), 1) ? 1 : n;
    if (!digits(rest, len)) throw fail(elem);
    const v = Number(rest.slice(0, len));
    rest = rest.slice(len);
    return v;
  };
  const range = (what: string) => new TimeParseError(value, "", "", `: ${what} out of range`);
  const year = num("2006", 4);
  literal("-");
  const month = num("01", 2);
  if (month < 1 || month > 12) throw range("month");
  literal("-");
  const day = num("02", 2);
  literal("T");
  const hour = num("15", 2, true);
  if (hour >= 24) throw range("hour");
  literal(":");
  const minute = num("04", 2);
  if (minute >= 60) throw range("minute");
  literal(":");
  const second = num("05", 2);
  if (second >= 60) throw range("second");
  if (rest.length < 7 || rest[0] !== "." || !/^\d{6}$/.test(rest.slice(1, 7))) throw fail(".000000");
  const micros = rest.slice(1, 7);
  rest = rest.slice(7);
  let offsetMinutes = 0;
  if (rest[0] === "Z") rest = rest.slice(1);
  else {
    const m = /^([+-])(\d\d):(\d\d)/.exec(rest);
    if (!m) throw fail("Z07:00");
    if (Number(m[2]) > 24) throw range("time zone offset hour");
    if (Number(m[3]) > 60) throw range("time zone offset minute");
    offsetMinutes = (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
    rest = rest.slice(6);
  }
  if (rest) throw new TimeParseError(value, "", "", `: extra text: ${JSON.stringify(rest)}`);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  if (day < 1 || day !== new Date(Date.UTC(year, month - 1, day)).getUTCDate()) throw range("day");
  return `${new Date(utc).toISOString().slice(0, 19)}.${micros}Z`;
}

/**
 * A Lease as kube-apiserver decodes it: `acquireTime`/`renewTime` are MicroTimes, and one that
 * does not parse is a 400 before anything else is checked (transcript 11, steps 8a0/8a1). Valid
 * times are stored in UTC, as the apiserver writes them back.
 */
export function decodeLease(obj: KObject): void {
  const spec = obj.spec;
  if (!spec || typeof spec !== "object") return;
  for (const field of ["acquireTime", "renewTime"]) {
    const value = spec[field];
    if (value === undefined || value === null) {
      delete spec[field];
      continue;
    }
    const cannot = (why: string) => badRequest(`Lease in version "v1" cannot be handled as a Lease: ${why}`);
    // not recorded: the wording of encoding/json's type error for a non-string MicroTime
    if (typeof value !== "string") throw cannot(`json: cannot unmarshal ${typeof value} into Go value of type string`);
    try {
      spec[field] = parseMicroTime(value);
    } catch (err) {
      if (err instanceof TimeParseError) throw cannot(err.message);
      throw err;
    }
  }
}
