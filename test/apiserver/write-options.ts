import { invalidOptions } from "./errors";

const OPTIONS_KIND: Record<string, string> = {
  POST: "CreateOptions",
  PUT: "UpdateOptions",
  PATCH: "PatchOptions",
  DELETE: "DeleteOptions",
};

const FIELD_VALIDATION = ["", "Ignore", "Strict", "Warn"];

/**
 * The `dryRun` and `fieldValidation` query parameters of a write, checked as kube-apiserver v1.32
 * checks them (transcript 11, steps 2g and 4e): only `dryRun=All`, and one of the four
 * fieldValidation values, else a 422 about the request's options.
 */
export function writeQueryOptions(
  method: string,
  query: URLSearchParams,
): { dryRun: boolean; fieldValidation?: string } {
  const kind = OPTIONS_KIND[method] ?? "CreateOptions";
  const dryRun = query.getAll("dryRun");
  const bad = dryRun.filter(v => v !== "All");
  if (bad.length > 0) {
    const message = `Unsupported value: []string{${dryRun.map(v => JSON.stringify(v)).join(", ")}}: supported values: "All"`;
    throw invalidOptions(kind, "dryRun", "FieldValueNotSupported", message);
  }
  const fieldValidation = query.get("fieldValidation") ?? undefined;
  if (fieldValidation !== undefined && method !== "DELETE" && !FIELD_VALIDATION.includes(fieldValidation)) {
    const message = `Unsupported value: ${JSON.stringify(fieldValidation)}: supported values: ${FIELD_VALIDATION.map(v => JSON.stringify(v)).join(", ")}`;
    throw invalidOptions(kind, "fieldValidation", "FieldValueNotSupported", message);
  }
  return { dryRun: dryRun.length > 0, fieldValidation: fieldValidation || undefined };
}
