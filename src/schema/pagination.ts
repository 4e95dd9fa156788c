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

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** `rows` was fetched with limit + 1 so that hasNextPage needs no second query. */
export function toConnection<T extends { id: string }>(rows: T[], page: Page): Connection<T> {
  const { nodes, hasNextPage } = pageRows(rows, page);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
