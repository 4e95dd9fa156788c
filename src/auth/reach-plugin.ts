import SchemaBuilder, { BasePlugin, type PothosOutputFieldConfig, type SchemaTypes } from '@pothos/core';
import { reachOf, type Reach } from './reach.ts';

/**
 * Applies the reach table (reach.ts) to every output field of the schema:
 * each field that is not public gets `authScopes: { reach: <level> }`, which
 * @pothos/plugin-scope-auth checks before the resolver runs (subscriptions:
 * before they subscribe). The type files declare no scopes of their own, so
 * the table stays the one place that says who reads what.
 */
export class ReachPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override onOutputFieldConfig(fieldConfig: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    const reach = reachOf(fieldConfig.parentType, fieldConfig.name);
    // Public fields are not wrapped at all (no cost on catalog reads).
    if (reach === 'public') return fieldConfig;
    return { ...fieldConfig, pothosOptions: { ...fieldConfig.pothosOptions, authScopes: SCOPES[reach] } } as PothosOutputFieldConfig<Types>;
  }
}

/** One scope map object per level: scope-auth caches each map's result per request. */
const SCOPES: Record<Reach, { reach: Reach }> = {
  public: { reach: 'public' },
  agent: { reach: 'agent' },
  sessions: { reach: 'sessions' },
  read: { reach: 'read' },
  admin: { reach: 'admin' },
  operator: { reach: 'operator' },
};

declare global {
  // Pothos registers plugins by declaration merging into this namespace.
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      reach: ReachPlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin('reach', ReachPlugin);
