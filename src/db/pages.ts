import { isId } from '../ids.ts';

/*
 * Keyset pages as the repositories read them: a size and an exclusive bound
 * on the ordered id. No GraphQL here; schema/pagination.ts turns client
 * arguments into a Page (refusing bad ones) and rows into a connection.
 */

/** Rows of a page when the client gives no `first`. */
export const DEFAULT_PAGE_SIZE = 50;
/** The largest `first` a client may ask for (R-API-3). */
export const MAX_PAGE_SIZE = 500;

export interface Page {
  limit: number;
  /** Exclusive bound on the ordered id. */
  afterId: string | null;
}

/**
 * Cursors are opaque to clients; inside, the id of the last row (ids sort by creation).
 *
 * @example
 * decodeCursor(encodeCursor(id)) === id;
 */
export function encodeCursor(id: string): string {
  return Buffer.from(`c:${id}`).toString('base64url');
}

/** The id inside a cursor made by `encodeCursor`, or null when `cursor` is not one. */
export function decodeCursor(cursor: string): string | null {
  const decoded = Buffer.from(cursor, 'base64url').toString();
  const id = decoded.startsWith('c:') ? decoded.slice(2) : '';
  return isId(id) ? id : null;
}

/** True when `first` is a page size a client may ask for (0..MAX_PAGE_SIZE). */
export function validPageSize(first: number): boolean {
  return Number.isInteger(first) && first >= 0 && first <= MAX_PAGE_SIZE;
}

/** The rows of a page fetched with `limit + 1` rows, and whether more follow (no second query). */
export function pageRows<T>(rows: readonly T[], page: Page): { nodes: T[]; hasNextPage: boolean } {
  return { nodes: rows.slice(0, page.limit), hasNextPage: rows.length > page.limit };
}
