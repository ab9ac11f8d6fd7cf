import { ApiError, badRequest } from "./errors";
import type { KObject, ResourceType } from "./resources";

/**
 * Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
 * kubectl's `create namespace|secret|configmap|serviceaccount` generators send (transcript 11, 5c–5f).
 *
 * A hand-written decoder of the protobuf wire format: no protobuf library is installed, and a
 * generic one would still need Kubernetes' generated.proto schemas, which no installed package
 * carries. Only the messages of those kinds are known here (their field numbers are from
 * k8s.io/api/core/v1/generated.proto and k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto);
 * another kind is refused with a 415, so nothing is ever decoded wrongly.
 */

export const PROTOBUF = "application/vnd.kubernetes.protobuf";
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

type Field = { number: number; wire: number; value: bigint | Buffer };

class Malformed extends Error {}

/** The fields of one message, in order (wire types 0, 1, 2 and 5). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length || shift > 63n) throw new Malformed("truncated varint");
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const number = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ number, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Malformed("truncated field");
      out.push({ number, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1 || wire === 5) {
      const len = wire === 1 ? 8 : 4;
      if (pos + len > buf.length) throw new Malformed("truncated fixed field");
      out.push({ number, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else throw new Malformed(`wire type ${wire}`);
  }
  return out;
}

/** How to read one field of a message into a JSON property. */
type Reader =
  | { name: string; kind: "string" | "bytes" | "bool" | "int" }
  | { name: string; kind: "strings" }
  | { name: string; kind: "map"; values: "string" | "bytes" }
  | { name: string; kind: "message"; message: Record<number, Reader> };

const str = (name: string): Reader => ({ name, kind: "string" });

const OBJECT_META: Record<number, Reader> = {
  1: str("name"),
  2: str("generateName"),
  3: str("namespace"),
  11: { name: "labels", kind: "map", values: "string" },
  12: { name: "annotations", kind: "map", values: "string" },
  14: { name: "finalizers", kind: "strings" },
};

const META = { name: "metadata", kind: "message", message: OBJECT_META } as const;

/** The kinds kubectl's create generators send as protobuf, by field number. */
const KINDS: Record<string, Record<number, Reader>> = {
  Namespace: {
    1: META,
    2: { name: "spec", kind: "message", message: { 1: { name: "finalizers", kind: "strings" } } },
  },
  Secret: {
    1: META,
    2: { name: "data", kind: "map", values: "bytes" },
    3: str("type"),
    4: { name: "stringData", kind: "map", values: "string" },
    5: { name: "immutable", kind: "bool" },
  },
  ConfigMap: {
    1: META,
    2: { name: "data", kind: "map", values: "string" },
    3: { name: "binaryData", kind: "map", values: "bytes" },
    4: { name: "immutable", kind: "bool" },
  },
  ServiceAccount: { 1: META, 4: { name: "automountServiceAccountToken", kind: "bool" } },
};

/** A message as JSON, leaving out empty strings, maps and lists as the JSON encoding's omitempty does. */
function decode(buf: Buffer, message: Record<number, Reader>): KObject {
  const out: KObject = {};
  for (const f of fields(buf)) {
    const r = message[f.number];
    if (!r) continue; // a field the simulator does not keep
    const bytes = () => {
      if (!(f.value instanceof Buffer) || f.wire !== 2) throw new Malformed(`field ${r.name} is not length-delimited`);
      return f.value;
    };
    switch (r.kind) {
      case "string": {
        const s = bytes().toString("utf8");
        if (s !== "") out[r.name] = s;
        break;
      }
      case "bytes":
        out[r.name] = bytes().toString("base64");
        break;
      case "bool":
      case "int":
        if (typeof f.value !== "bigint") throw new Malformed(`field ${r.name} is not a varint`);
        out[r.name] = r.kind === "bool" ? f.value !== 0n : Number(f.value);
        break;
      case "strings":
        (out[r.name] ??= []).push(bytes().toString("utf8"));
        break;
      case "map": {
        const entry = fields(bytes());
        const part = (n: number) => entry.find(e => e.number === n)?.value;
        const key = part(1);
        const value = part(2);
        const text = (v: unknown) => (v instanceof Buffer ? v : Buffer.alloc(0));
        (out[r.name] ??= {})[text(key).toString("utf8")] =
          r.values === "bytes" ? text(value).toString("base64") : text(value).toString("utf8");
        break;
      }
      case "message": {
        const inner = decode(bytes(), r.message);
        if (Object.keys(inner).length > 0) out[r.name] = inner;
        break;
      }
    }
  }
  return out;
}

const unrecognized = (t: ResourceType, why: string) =>
  badRequest(`the object provided is unrecognized (must be of type ${t.kind}): ${why}`);

/** The first 30 bytes of a body as upstream quotes them in a decoding error. */
const excerpt = (body: Buffer, hex: boolean) => {
  const head = body.subarray(0, 30);
  return `${hex ? head.toString("hex") : head.toString("utf8")}${body.length > 30 ? " ..." : ""}`;
};

/**
 * Decode a protobuf request body into the JSON object kube-apiserver would have decoded, or
 * answer as upstream does: 400 without the `k8s\0` prefix, 415 for a kind decoded only as JSON here.
 */
export function decodeProtobuf(t: ResourceType, body: Buffer): KObject {
  if (t.custom) {
    // upstream drops the connection here (a nil-pointer panic, transcript 11 step 5j); kubectl never sends it
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
    );
  }
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) {
    throw unrecognized(
      t,
      `provided data does not appear to be a protobuf message, expected prefix [${[...MAGIC].join(" ")}] (${excerpt(body, false)})`,
    );
  }
  const message = KINDS[t.kind];
  if (!message) {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the simulated apiserver decodes protobuf bodies only for ${Object.keys(KINDS).join(", ")}: send ${t.kind} as application/json`,
    );
  }
  try {
    const unknown = fields(body.subarray(4));
    const part = (n: number) => unknown.find(f => f.number === n)?.value;
    const typeMeta =
      part(1) instanceof Buffer ? decode(part(1) as Buffer, { 1: str("apiVersion"), 2: str("kind") }) : {};
    const raw = part(2);
    if (!(raw instanceof Buffer)) throw new Malformed("no object in the envelope");
    return { ...typeMeta, ...decode(raw, message) };
  } catch (err) {
    if (err instanceof Malformed) throw unrecognized(t, `proto: ${err.message}`);
    throw err;
  }
}

/** Upstream's 400 for protobuf bytes sent as application/json (transcript 11, step 5e). */
export function protobufAsJson(t: ResourceType, body: Buffer): ApiError | undefined {
  if (!body.subarray(0, 4).equals(MAGIC)) return undefined;
  return unrecognized(
    t,
    `couldn't get version/kind; json parse error: invalid character 'k' looking for beginning of value (${excerpt(body, true)})`,
  );
}
