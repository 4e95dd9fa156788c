import { badInput } from '../errors.ts';
import { isId } from '../ids.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Page {
  limit: number;
  /** Exclusive lower bound on the ordered id. */
  afterId: string | null;
}

/** Cursors are opaque to clients; inside, the id of the last row (ids sort by creation). */
export function encodeCursor(id: string): string {
  return Buffer.from(`c:${id}`).toString('base64url');
}

export function parsePage(args: PageArgs): Page {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badInput('first', `must be between 0 and ${MAX_PAGE_SIZE}`, 'R-API-3');
  }
  let afterId: string | null = null;
  if (args.after != null) {
    const decoded = Buffer.from(args.after, 'base64url').toString();
    const id = decoded.startsWith('c:') ? decoded.slice(2) : '';
    if (!isId(id)) throw badInput('after', 'is not a cursor returned by this connection');
    afterId = id;
  }
  return { limit: first, afterId };
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** `rows` was fetched with limit + 1 so that hasNextPage needs no second query. */
export function toConnection<T extends { id: string }>(rows: T[], page: Page): Connection<T> {
  const nodes = rows.slice(0, page.limit);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > page.limit, endCursor: edges.at(-1)?.cursor ?? null },
  };
}
