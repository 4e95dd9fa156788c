import { findNodes, MAX_NODE_IDS, type FoundNode } from '../tenancy/node.service.ts';
import { builder } from './builder.ts';
import { NodeRef } from './refs.ts';

/*
 * Query.node and Query.nodes (Relay's object identification) over the ids
 * the API already has: no global-id encoding, an id is looked up in the
 * tables the caller may read (src/tenancy/node.service.ts). The value handed
 * to the Node interface carries `__typename`, which the Relay plugin's
 * resolveType reads.
 */

const asNode = (found: FoundNode | null) => (found ? { ...found.row, __typename: found.typename } : null);

builder.queryFields((t) => ({
  node: t.field({
    type: NodeRef,
    nullable: true,
    description:
      "The object with this id, whatever its type; null when there is none in the caller's organization (another organization's object is null too, R-SEC-2).",
    args: {
      id: t.arg.id({
        required: true,
        description:
          'The id of any object (organization, site, group, team, user, API token, session, event, webhook endpoint, message or delivery).',
      }),
    },
    resolve: async (_root, args, ctx) => asNode((await findNodes(ctx, [args.id], 'id'))[0] ?? null),
  }),
  nodes: t.field({
    type: [NodeRef],
    nullable: { list: false, items: true },
    description: `The objects with these ids, in the order given; null where Query.node would be null. At most ${MAX_NODE_IDS} ids.`,
    args: { ids: t.arg.idList({ required: true, description: `Ids of any objects, at most ${MAX_NODE_IDS}.` }) },
    resolve: async (_root, args, ctx) => (await findNodes(ctx, args.ids, 'ids')).map(asNode),
  }),
}));
