import { getNamedType, isNonNullType, isObjectType, isScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/schema/index.ts';

/*
 * [admin-api] Every object type with an `id: ID!` field implements Node, so
 * that Query.node and Query.nodes find it (src/tenancy/node.service.ts looks
 * the id up). A new type with an id fails here until it implements Node and
 * the lookup finds it, or is listed below with the reason it cannot.
 */

/** Object types with an `id: ID!` that are not Node, each with the reason. */
const NOT_NODES: Record<string, string> = {
  // None today: every object with an id of its own is found by Query.node.
};

describe('[admin-api] the Node interface', () => {
  const schema = getSchema();
  const withId = Object.values(schema.getTypeMap())
    .filter(isObjectType)
    .filter((type) => !type.name.startsWith('__'))
    .filter((type) => {
      const id = type.getFields().id;
      return id !== undefined && isNonNullType(id.type) && isScalarType(getNamedType(id.type)) && getNamedType(id.type).name === 'ID';
    });

  it('is implemented by every object type with an id: ID! field (except those listed with a reason)', () => {
    const missing = withId.filter((type) => !(type.name in NOT_NODES) && !type.getInterfaces().some((i) => i.name === 'Node'));
    expect(missing.map((type) => type.name)).toEqual([]);
  });

  it('lists as exceptions only types that exist, have an id and are not Node', () => {
    for (const name of Object.keys(NOT_NODES)) {
      const type = withId.find((t) => t.name === name);
      expect(type, name).toBeDefined();
      expect(
        type?.getInterfaces().some((i) => i.name === 'Node'),
        name,
      ).toBe(false);
    }
  });

  it('is resolved by node.service.ts for every type that implements it', async () => {
    const { readFileSync } = await import('node:fs');
    const service = readFileSync(new URL('../../src/tenancy/node.service.ts', import.meta.url), 'utf8');
    const nodes = Object.values(schema.getTypeMap())
      .filter(isObjectType)
      .filter((type) => type.getInterfaces().some((i) => i.name === 'Node'));
    expect(nodes.length).toBeGreaterThan(0);
    for (const type of nodes) expect(service, type.name).toContain(`typename: '${type.name}'`);
  });
});
