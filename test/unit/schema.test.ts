import { readFileSync } from 'node:fs';
import {
  type BreakingChange,
  buildSchema,
  findBreakingChanges,
  type GraphQLSchema,
  isEnumType,
  isInterfaceType,
  isObjectType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { printSortedSchema } from '../../src/schema/index.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/**
 * An output field that goes from String to an enum still serializes as the same strings, so clients keep
 * working: the contract allows it (as the contract check tool does). Input fields and arguments may not.
 */
function outputStringToEnum(schema: GraphQLSchema, change: BreakingChange): boolean {
  const m = /^(\w+)\.(\w+) changed type from (\[?)String(!?)(\]?!?) to \3(\w+)\4\5\.$/.exec(change.description);
  if (change.type !== 'FIELD_CHANGED_KIND' || !m) return false;
  const owner = schema.getType(m[1] ?? '');
  return (isObjectType(owner) || isInterfaceType(owner)) && isEnumType(schema.getType(m[6] ?? ''));
}

describe('schema.graphql', () => {
  it('is printed from the Pothos schema and up to date (run npm run print-schema)', () => {
    expect(read('schema.graphql')).toBe(printSortedSchema());
  });

  it('lets an output field become an enum of the same strings, never an input field', () => {
    const before = buildSchema('type Query { a(x: String!): String! b: String } input I { c: String! }');
    const after = buildSchema('enum E { X } type Query { a(x: E!): E! b: E } input I { c: E! }');
    const allowed = findBreakingChanges(before, after).filter((c) => outputStringToEnum(after, c));
    expect(allowed.map((c) => c.description).sort()).toEqual([
      'Query.a changed type from String! to E!.',
      'Query.b changed type from String to E.',
    ]);
    expect(findBreakingChanges(before, after).length).toBeGreaterThan(allowed.length);
  });

  it('contains the API contract compatibly, apart from the parts listed in test/contract-pending.txt', () => {
    const contract = buildSchema(read('../shared/contract/contract.graphql'));
    const schema = buildSchema(read('schema.graphql'));
    const breaking = findBreakingChanges(contract, schema)
      .filter((c) => !outputStringToEnum(schema, c))
      .map((c) => `${c.type}: ${c.description}`);
    const pending = read('test/contract-pending.txt')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    // Everything missing must be declared pending …
    expect(breaking.filter((b) => !pending.includes(b))).toEqual([]);
    // … and nothing built may stay listed: the pending list only shrinks.
    expect(pending.filter((p) => !breaking.includes(p))).toEqual([]);
  });
});
