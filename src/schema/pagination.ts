import { DEFAULT_PAGE_SIZE, decodeCursor, encodeCursor, MAX_PAGE_SIZE, type Page, pageRows, validPageSize } from '../db/pages.ts';
import { badInput } from '../errors.ts';

export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page } from '../db/pages.ts';

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

/** A connection's `first` / `after` as a Page; a bad size or a foreign cursor is BAD_USER_INPUT naming the argument. */
export function parsePage(args: PageArgs): Page {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!validPageSize(first)) throw badInput('first', `must be between 0 and ${MAX_PAGE_SIZE}`, 'R-API-3');
  let afterId: string | null = null;
  if (args.after != null) {
    afterId = decodeCursor(args.after);
    if (afterId === null) throw badInput('after', 'is not a cursor returned by this connection');
  }
  return { limit: first, afterId };
}

/** What every connection's PageInfo holds (the Relay plugin's PageInfo type). */
export interface PageInfoShape {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfoShape;
}

/** `rows` was fetched with limit + 1 so that hasNextPage needs no second query. */
export function toConnection<T extends { id: string }>(rows: T[], page: Page): Connection<T> {
  const { nodes, hasNextPage } = pageRows(rows, page);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage,
      // Forward-only connections: a page after a cursor has something before it.
      hasPreviousPage: page.afterId !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/** `first`/`after`/`last`/`before` of a two-way connection (src/schema/connections.ts). */
export interface TwoWayPageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * A two-way connection's arguments, checked: sizes 0..MAX_PAGE_SIZE, cursors
 * made by this gateway, not `first` and `last` together. A bad one is
 * BAD_USER_INPUT naming the argument (R-API-3).
 */
export function checkTwoWayPage(args: TwoWayPageArgs): { afterId: string | null; beforeId: string | null } {
  if (args.first != null && args.last != null) throw badInput('last', 'give first or last, not both', 'R-API-3');
  if (args.first != null && !validPageSize(args.first)) throw badInput('first', `must be between 0 and ${MAX_PAGE_SIZE}`, 'R-API-3');
  if (args.last != null && !validPageSize(args.last)) throw badInput('last', `must be between 0 and ${MAX_PAGE_SIZE}`, 'R-API-3');
  const cursor = (name: 'after' | 'before') => {
    const value = args[name];
    if (value == null) return null;
    const id = decodeCursor(value);
    if (id === null) throw badInput(name, 'is not a cursor returned by this connection');
    return id;
  };
  return { afterId: cursor('after'), beforeId: cursor('before') };
}
