import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, Kind } from 'graphql';
import { allows, refusal, type Reach } from '../auth/reach.ts';
import '../auth/reach-plugin.ts';
import type { Context } from '../context.ts';

/** Only configuration: plugins, scalars, defaults. Types live next to their module. */
export const builder = new SchemaBuilder<{
  Context: Context;
  // R-SEC-5: one scope, the field's reach level from src/auth/reach.ts (applied to every field by the reach plugin).
  AuthScopes: { reach: Reach };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
}>({
  // 'reach' sets each field's authScopes from the table; scope-auth enforces them.
  // 'relay': the Node interface and cursor connections with backward paging (src/schema/node.ts, refs.ts).
  plugins: [ScopeAuthPlugin, RelayPlugin, 'reach'],
  relay: {
    // Ids stay the plain ids the API has always had (no global-id encoding): Query.node/nodes are
    // defined in src/schema/node.ts, which looks an id up in the tables the caller may read.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    nodeTypeOptions: { description: 'An object with an id that Query.node and Query.nodes find by that id alone.' },
    idFieldOptions: { description: 'The object id, the same as in every other field and argument that takes it.' },
    pageInfoTypeOptions: { description: 'Where a page of a connection starts and ends (R-API-3).' },
    hasNextPageFieldOptions: { description: 'Whether more items follow this page.' },
    hasPreviousPageFieldOptions: {
      description: 'Whether items precede this page (paging backward with last/before; after an `after` cursor: true).',
    },
    startCursorFieldOptions: { description: 'The cursor of the first item: pass it as `before` for the previous page; null: empty page.' },
    endCursorFieldOptions: {
      description: 'The cursor of the last item: pass it as `after` for the next page; null: the page is empty.',
    },
    cursorFieldOptions: { description: 'Pass as `after` (or `before`) to page on from this item.' },
    nodeFieldOptions: { description: 'The object at this place of the page.' },
    edgesFieldOptions: { description: 'The items of this page.' },
    pageInfoFieldOptions: { description: 'Whether more items follow or precede, and the cursors to ask for them.' },
    firstArgOptions: { description: 'Page size counting forward, 0..500 (default 50).' },
    afterArgOptions: { description: 'The endCursor of the previous page.' },
    lastArgOptions: { description: 'Page size counting backward from `before` (or from the end), 0..500.' },
    beforeArgOptions: { description: 'The startCursor of the following page.' },
  },
  scopeAuth: {
    authScopes: (ctx) => ({ reach: (level) => allows(ctx.viewer, level) }),
    // Subscriptions are checked once, when they subscribe (their events' fields are checked as usual).
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, ctx, info) => refusal(ctx.viewer, info.parentType.name, info.fieldName),
  },
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
});

builder.queryType({
  description: "Reads. A field the token's role does not reach is null with a FORBIDDEN error naming it (R-SEC-5).",
});
builder.mutationType({ description: 'Changes. Each mutation is one transaction: on any error nothing of it remains (R-API-2).' });

builder.scalarType('DateTime', {
  description: 'An instant in time, ISO 8601 in UTC (e.g. 2026-11-22T09:30:00.000Z).',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (node) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO 8601 string');
    return parseDateTime(node.value);
  },
});

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    throw new GraphQLError('DateTime must be an ISO 8601 string such as 2026-11-01T00:00:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError(`DateTime ${value} is not a valid date`);
  return date;
}
