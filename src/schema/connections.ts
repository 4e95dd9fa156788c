import { resolveCursorConnection } from '@pothos/plugin-relay';
import type { TwoWayPage } from '../tenancy/tenancy.repository.ts';
import { checkTwoWayPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type TwoWayPageArgs } from './pagination.ts';
import { encodeCursor } from '../db/pages.ts';

/**
 * A two-way connection (first/after and last/before) over rows in id order,
 * with the Relay plugin's cursor paging: `fetch` reads one keyset page (one
 * extra row tells whether more follow). Arguments are checked first, so a
 * bad one is BAD_USER_INPUT naming it (R-API-3), never the plugin's own error.
 */
export async function twoWayConnection<T extends { id: string }>(args: TwoWayPageArgs, fetch: (page: TwoWayPage) => Promise<T[]>) {
  const { afterId, beforeId } = checkTwoWayPage(args);
  const connection = await resolveCursorConnection<Promise<T[]>>(
    {
      args: {
        first: args.first ?? undefined,
        last: args.last ?? undefined,
        after: args.after ?? undefined,
        before: args.before ?? undefined,
      },
      defaultSize: DEFAULT_PAGE_SIZE,
      maxSize: MAX_PAGE_SIZE,
      toCursor: (row) => encodeCursor(row.id),
    },
    ({ limit, inverted }): Promise<T[]> => fetch({ afterId, beforeId, limit, inverted }),
  );
  if (!connection) throw new Error('a connection page came back empty-handed');
  // The plugin repeats the given cursor on an empty page; PageInfo documents null there.
  if (connection.edges.length === 0) connection.pageInfo = { ...connection.pageInfo, startCursor: null, endCursor: null };
  return connection;
}
