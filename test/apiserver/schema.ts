import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { ApiError, badRequest } from "./errors";
import type { KObject, ResourceType } from "./resources";

// verbose: errors carry the offending value (`data`), which upstream's messages quote
const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, validateFormats: false });

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
  readonly #hasCel: boolean;

  constructor(readonly openAPIV3Schema: KObject) {
    this.#validate = ajv.compile(openAPIV3Schema);
    this.#hasCel = hasCelRules(openAPIV3Schema);
  }

  /** 422 Invalid with one cause per violation, in upstream's order and words (transcript 11, 3a–3g). */
  #check(t: ResourceType, obj: KObject): void {
    const schemaCauses = this.#validate(obj) ? [] : (this.#validate.errors ?? []).map(cause);
    const causes = [...schemaCauses, ...duplicateCauses(obj, this.openAPIV3Schema, "")].sort(byField);
    if (causes.length === 0) return;
    // CEL rules are not evaluated here; upstream reports that it skipped them after a blocking error
    if (this.#hasCel && causes.some(c => BLOCKING.has(c.reason))) causes.push(CEL_NOT_RUN);
    const name = obj.metadata?.name;
    const list = causes.map(c => `${c.field}: ${c.message}`);
    throw new ApiError(
      422,
      "Invalid",
      `${t.kind}.${t.group} "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(", ")}]`}`,
      { name, group: t.group, kind: t.kind, causes },
    );
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
    walk(obj, this.openAPIV3Schema, "");
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
    applyDefaults(obj, this.openAPIV3Schema);
    this.#check(t, obj);
    return fieldValidation === "Ignore" ? [] : unknown.map(p => `unknown field "${p}"`);
  }
}

/** A field.Error as kube-apiserver reports it: `<field>: <message>` and a cause. */
interface Cause {
  reason: string;
  message: string;
  field: string;
}

/** The types kube-openapi names in `must be of type` errors. */
function goType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** A value as Go prints it in a field error: strings quoted, numbers and booleans bare. */
const goValue = (value: unknown) => JSON.stringify(value);

function fieldOf(instancePath: string): string {
  return instancePath
    .split("/")
    .filter(Boolean)
    .map(p => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map(p => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join("")
    .replace(/^\./, "");
}

function cause(e: ErrorObject): Cause {
  const field = fieldOf(e.instancePath);
  switch (e.keyword) {
    case "type":
      return {
        reason: "FieldValueTypeInvalid",
        message: `Invalid value: "${goType(e.data)}": ${field} in body must be of type ${e.params.type}: "${goType(e.data)}"`,
        field,
      };
    case "enum":
      return {
        reason: "FieldValueNotSupported",
        message: `Unsupported value: ${goValue(e.data)}: supported values: ${(e.params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(", ")}`,
        field,
      };
    case "required":
      return {
        reason: "FieldValueRequired",
        message: "Required value",
        field: field ? `${field}.${e.params.missingProperty}` : e.params.missingProperty,
      };
    case "maxItems":
      return {
        reason: "FieldValueTooMany",
        message: `Too many: ${(e.data as unknown[]).length}: must have at most ${e.params.limit} items`,
        field,
      };
    case "maxLength":
      return { reason: "FieldValueTooLong", message: `Too long: may not be more than ${e.params.limit} bytes`, field };
    case "pattern":
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${goValue(e.data)}: ${field} in body should match '${e.params.pattern}'`,
        field,
      };
    case "minLength":
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${goValue(e.data)}: ${field} in body should be at least ${e.params.limit} chars long`,
        field,
      };
    case "minItems":
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${(e.data as unknown[]).length}: ${field} in body should have at least ${e.params.limit} items`,
        field,
      };
    case "minimum":
    case "maximum":
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${goValue(e.data)}: ${field} in body should be ${e.keyword === "minimum" ? "greater" : "less"} than or equal to ${e.params.limit}`,
        field,
      };
    default:
      return {
        reason: "FieldValueInvalid",
        message: `Invalid value: ${goValue(e.data)}: ${field} in body ${e.message}`,
        field,
      };
  }
}

/** `x-kubernetes-list-type: set` lists hold no duplicates: a FieldValueDuplicate at the repeated item. */
function duplicateCauses(value: unknown, schema: KObject | undefined, path: string): Cause[] {
  if (!schema || value === null || typeof value !== "object") return [];
  if (Array.isArray(value)) {
    const out: Cause[] = [];
    if (schema["x-kubernetes-list-type"] === "set") {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key = JSON.stringify(item);
        if (seen.has(key))
          out.push({
            reason: "FieldValueDuplicate",
            message: `Duplicate value: ${goValue(item)}`,
            field: `${path}[${i}]`,
          });
        seen.add(key);
      });
    }
    value.forEach((item, i) => out.push(...duplicateCauses(item, schema.items, `${path}[${i}]`)));
    return out;
  }
  return Object.entries(value as KObject).flatMap(([key, child]) =>
    duplicateCauses(child, schema.properties?.[key], path ? `${path}.${key}` : key),
  );
}

/** Does the schema carry CEL rules anywhere (upstream then reports that blocked rules were not run)? */
const hasCelRules = (schema: unknown): boolean =>
  typeof schema === "object" &&
  schema !== null &&
  (Object.prototype.hasOwnProperty.call(schema, "x-kubernetes-validations") || Object.values(schema).some(hasCelRules));

/** The error types after which upstream does not run CEL rules (apiextensions' hasBlockingErr). */
const BLOCKING = new Set([
  "FieldValueNotSupported",
  "FieldValueRequired",
  "FieldValueTooLong",
  "FieldValueTooMany",
  "FieldValueTypeInvalid",
]);

const CEL_NOT_RUN: Cause = {
  reason: "FieldValueInvalid",
  message:
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
  field: "<nil>",
};

/** Field paths in the order kube-openapi reports them: property names sorted, list items by index. */
const byField = (a: Cause, b: Cause) => a.field.localeCompare(b.field, "en", { numeric: true });
