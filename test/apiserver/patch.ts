import { load as loadYaml } from "js-yaml";
import { applyPatch, type Operation } from "fast-json-patch";
import { ApiError, badRequest } from "./errors";
import type { KObject, ResourceType } from "./resources";

export const MERGE = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";
export const STRATEGIC = "application/strategic-merge-patch+json";
export const APPLY = "application/apply-patch+yaml";

/** RFC 7386 JSON merge patch: objects merge, null deletes, everything else (lists too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
  const out: KObject =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as KObject) } : {};
  for (const [key, value] of Object.entries(patch as KObject)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** Parse a PATCH body for its content type (415 for a type the resource does not take). */
export function parsePatchBody(contentType: string, raw: string, t: ResourceType): unknown {
  const type = contentType.split(";")[0].trim();
  const accepted = [JSON_PATCH, MERGE, APPLY, ...(t.custom ? [] : [STRATEGIC])];
  if (![JSON_PATCH, MERGE, APPLY, STRATEGIC].includes(type)) {
    // not a patch type at all: kube-apiserver's generic answer
    throw new ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {});
  }
  if (!accepted.includes(type)) {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    );
  }
  try {
    return type === APPLY ? loadYaml(raw) : JSON.parse(raw);
  } catch {
    throw badRequest(`the body of the request could not be decoded as ${type}`);
  }
}

/** The object a PATCH of the given type makes of `current`. */
export function applyPatchOfType(contentType: string, current: KObject, patch: unknown): KObject {
  const type = contentType.split(";")[0].trim();
  if (type === JSON_PATCH) {
    try {
      return applyPatch(structuredClone(current), patch as Operation[], true, false).newDocument as KObject;
    } catch (err) {
      throw new ApiError(
        422,
        "Invalid",
        `the server rejected our request due to an error in our request: ${(err as Error).message}`,
      );
    }
  }
  // merge, strategic merge (approximated by merge: lists are replaced) and apply (merges the applied configuration)
  return mergePatch(current, patch) as KObject;
}
