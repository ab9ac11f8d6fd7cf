/** kube-apiserver's error shapes: a metav1.Status, or the plain-text 404 for unknown paths. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string | undefined,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** An unknown group, version or resource: kube-apiserver answers with plain text. */
export class PageNotFound extends Error {}

export const notFound = (plural: string, name: string, group = "") =>
  new ApiError(404, "NotFound", `${group ? `${plural}.${group}` : plural} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });

export const alreadyExists = (plural: string, name: string, group = "") =>
  new ApiError(409, "AlreadyExists", `${group ? `${plural}.${group}` : plural} "${name}" already exists`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });

export const conflict = (plural: string, name: string, group = "") =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${group ? `${plural}.${group}` : plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group ? { group } : {}), kind: plural },
  );

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message);

export const expired = (message: string) => new ApiError(410, "Expired", message);

/** A 422 about request options (ListOptions, CreateOptions, PatchOptions…), with upstream's details. */
export const invalidOptions = (kind: string, field: string, reason: string, message: string) =>
  new ApiError(422, "Invalid", `${kind}.meta.k8s.io "" is invalid: ${field}: ${message}`, {
    group: "meta.k8s.io",
    kind,
    causes: [{ reason, message, field }],
  });
