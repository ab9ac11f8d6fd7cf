/** A PostgreSQL table name a PodIndex may name in spec.services.postgres.table. */
export class TableNameError extends Error {}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** "table" (schema public) or "schema.table", each a plain lower-case SQL identifier; else TableNameError. */
export function parseTableName(input: string): { schema: string; table: string } {
  const parts = input.split(".");
  if (parts.length > 2 || !parts.every(p => IDENT.test(p))) {
    throw new TableNameError(
      `${JSON.stringify(input)} is not a table name: use "table" or "schema.table", each of lower-case letters, digits and '_' (starting with a letter or '_', at most 63)`,
    );
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1] } : { schema: "public", table: parts[0] };
}
