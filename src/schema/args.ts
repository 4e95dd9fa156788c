import type { ArgBuilder, SchemaTypes } from '@pothos/core';

/** `first` / `after` of every connection (R-API-3). */
export function pageArgs<Types extends SchemaTypes>(arg: ArgBuilder<Types>) {
  return {
    first: arg.int({ required: false, description: 'Page size, 0..500 (default 50).' }),
    after: arg.string({ required: false, description: 'The endCursor of the previous page.' }),
  };
}
