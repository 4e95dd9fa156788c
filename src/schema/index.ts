import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './node.ts';
// Each module registers its types and root fields on import.
import '../catalogs/catalog.schema.ts';
import '../tenancy/organization.schema.ts';
import '../tenancy/site.schema.ts';
import '../tenancy/group.schema.ts';
import '../tenancy/team.schema.ts';
import '../tenancy/user.schema.ts';
import '../tenancy/admin.schema.ts';
import '../tokens/token.schema.ts';
import '../licenses/license.schema.ts';
import '../assignments/assignments.schema.ts';
import '../sessions/sessions.schema.ts';
import '../reservations/reservations.schema.ts';
import '../events/events.schema.ts';
import '../live/live.schema.ts';
import '../webhooks/webhooks.schema.ts';
import '../billing/billing.schema.ts';
import '../second-factor/security-key.schema.ts';

let schema: GraphQLSchema | null = null;

/** Built once per process; every app instance shares it (no per-request schema work). */
export function getSchema(): GraphQLSchema {
  schema ??= builder.toSchema();
  return schema;
}

/** The text of `schema.graphql`: sorted, so that diffs show real changes only. */
export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
