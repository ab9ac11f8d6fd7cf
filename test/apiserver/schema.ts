import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { ApiError, badRequest } from "./errors";
import type { KObject, ResourceType } from "./resources";

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

/** Structural-schema defaulting: missing fields with a default get it, then defaults apply inside. */
function applyDefaults(value: unknown, schema: KObject | undefined): void {
  if (!schema || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) return value.forEach(item => applyDefaults(item, schema.items));
  const obj = value as KObject;
  for (const [key, child] of Object.entries((schema.properties ?? {}) as KObject)) {
    if (obj[key] === undefined && child.default !== undefined) obj[key] = structuredClone(child.default);
    applyDefaults(obj[key], child);
  }
}

/** One CRD version's structural schema: pruning of unknown fields, defaulting and validation. */
export class CrdSchema {
  readonly #validate: ValidateFunction;

  constructor(private readonly schema: KObject) {
    this.#validate = ajv.compile(schema);
  }

  /** The paths of fields the schema does not declare (they are pruned, or refused when Strict). */
  unknownFields(obj: KObject): string[] {
    const found: string[] = [];
    const walk = (value: unknown, schema: KObject | undefined, path: string) => {
      if (!schema || value === null || typeof value !== "object") return;
      if (schema["x-kubernetes-preserve-unknown-fields"]) return;
      if (Array.isArray(value)) return value.forEach((item, i) => walk(item, schema.items, `${path}[${i}]`));
      const props = schema.properties as KObject | undefined;
      for (const [key, child] of Object.entries(value as KObject)) {
        const at = path ? `${path}.${key}` : key;
        if (props?.[key]) walk(child, props[key], at);
        else if (schema.additionalProperties && typeof schema.additionalProperties === "object")
          walk(child, schema.additionalProperties, at);
        else if (!props && schema.type === "object" && !schema.additionalProperties)
          continue; // an open object, e.g. metadata
        else found.push(at);
      }
    };
    walk(obj, this.schema, "");
    return found.filter(p => p !== "metadata" && !p.startsWith("metadata.") && p !== "apiVersion" && p !== "kind");
  }

  /**
   * Prune (or, with fieldValidation=Strict, refuse) unknown fields, apply defaults and validate,
   * answering as kube-apiserver does: 400 for Strict decoding, 422 Invalid with causes.
   * Returns the warnings a pruned field earns.
   */
  admit(t: ResourceType, obj: KObject, fieldValidation: string | undefined): string[] {
    const unknown = this.unknownFields(obj);
    if (unknown.length > 0 && fieldValidation === "Strict") {
      throw badRequest(
        `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map(p => `unknown field "${p}"`).join(", ")}`,
      );
    }
    for (const path of unknown) {
      const parts = path.split(".");
      let parent: KObject = obj;
      for (const p of parts.slice(0, -1)) parent = parent?.[p];
      if (parent) delete parent[parts[parts.length - 1]];
    }
    applyDefaults(obj, this.schema);
    const name = obj.metadata?.name;
    const valid = this.#validate(obj);
    if (!valid) {
      const causes = (this.#validate.errors ?? []).map(cause);
      throw new ApiError(
        422,
        "Invalid",
        `${t.kind}.${t.group} "${name}" is invalid: [${causes.map(c => `${c.field}: ${c.message}`).join(", ")}]`,
        {
          name,
          group: t.group,
          kind: t.kind,
          causes,
        },
      );
    }
    return fieldValidation === "Ignore" ? [] : unknown.map(p => `unknown field "${p}"`);
  }
}

function cause(e: ErrorObject): { reason: string; message: string; field: string } {
  const field = e.instancePath
    .split("/")
    .filter(Boolean)
    .map(p => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join("")
    .replace(/^\./, "");
  const last = field.split(".").pop();
  const value = JSON.stringify(e.data);
  switch (e.keyword) {
    case "type":
      return {
        reason: "FieldValueTypeInvalid",
        message: `Invalid value: "${typeof e.data}": ${field} in body must be of type ${e.params.type}: "${typeof e.data}"`,
        field,
      };
    case "enum":
      return {
        reason: "FieldValueNotSupported",
        message: `Unsupported value: ${value}: supported values: ${(e.params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(", ")}`,
        field,
      };
    case "required":
      return {
        reason: "FieldValueRequired",
        message: "Required value",
        field: field ? `${field}.${e.params.missingProperty}` : e.params.missingProperty,
      };
    case "minimum":
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${value}: ${last} in body should be greater than or equal to ${e.params.limit}`,
        field,
      };
    case "maxItems":
      return {
        reason: "FieldValueTooMany",
        message: `Too many: ${(e.data as unknown[]).length}: must have at most ${e.params.limit} items`,
        field,
      };
    default:
      return { reason: "FieldValueInvalid", message: `Invalid value: ${value}: ${field} in body ${e.message}`, field };
  }
}
