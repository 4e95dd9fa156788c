import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/schema/index.ts';
import { OperationCostCache, type CostFunction } from '../../src/security/cost-cache.ts';
import { fieldCost, operationCost } from '../../src/security/cost.ts';

/*
 * [cost-per-document] The operation cost is computed once per document when
 * it does not depend on the variables, and every time when it does; either
 * way the answer is operationCost's for those variables.
 */

const schema = getSchema();

/** operationCost itself, counting how often it runs. */
function counted(): { compute: CostFunction; runs: () => number } {
  let runs = 0;
  return {
    compute: (...args) => {
      runs += 1;
      return operationCost(...args);
    },
    runs: () => runs,
  };
}

const START = parse(
  'mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } session { id seatKind } } }',
);
const PAGE = parse('query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { totalCount edges { node { id name } } } } }');
const INCLUDE = parse(
  'query($o: ID!, $x: Boolean!) { organization(id: $o) { id users(first: 400) @include(if: $x) { totalCount edges { node { id } } } } }',
);
const USAGE = parse(
  'query($o: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $o) { usage(from: $from, to: $to) { product { code } peakConcurrent } } }',
);
const USER = '0190a0a0-0000-7000-8000-000000000001';
const ORG = '0190a0a0-0000-7000-8000-000000000002';

describe('OperationCostCache', () => {
  it('[cost-per-document] a document whose cost ignores its variables is costed once, with the same answer each time', () => {
    const { compute, runs } = counted();
    const costs = new OperationCostCache(compute, fieldCost);
    const expected = operationCost(schema, START, null, { input: { userId: USER } });
    for (let i = 0; i < 5; i++) {
      const userId = `0190a0a0-0000-7000-8000-00000000000${i}`;
      expect(costs.cost(schema, START, null, { input: { userId } })).toBe(expected);
    }
    expect(runs()).toBe(1);
  });

  it('[cost-per-document] a page size from a variable is costed for every request: first: $n with 10, then 500', () => {
    const { compute, runs } = counted();
    const costs = new OperationCostCache(compute, fieldCost);
    for (const n of [10, 500, 10, 100]) {
      expect(costs.cost(schema, PAGE, null, { o: ORG, n })).toBe(operationCost(schema, PAGE, null, { o: ORG, n }));
    }
    expect(costs.cost(schema, PAGE, null, { o: ORG, n: 500 })).toBeGreaterThan(costs.cost(schema, PAGE, null, { o: ORG, n: 10 }));
    expect(runs()).toBe(6);
  });

  it('[cost-per-document] an interval from variables, and @include(if: $x), are costed for every request', () => {
    const costs = new OperationCostCache(operationCost, fieldCost);
    const day = { o: ORG, from: '2026-11-01T00:00:00.000Z', to: '2026-11-02T00:00:00.000Z' };
    const year = { o: ORG, from: '2025-11-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' };
    expect(costs.cost(schema, USAGE, null, day)).toBe(operationCost(schema, USAGE, null, day));
    expect(costs.cost(schema, USAGE, null, year)).toBe(operationCost(schema, USAGE, null, year));
    expect(costs.cost(schema, USAGE, null, year)).toBeGreaterThan(costs.cost(schema, USAGE, null, day));
    const off = costs.cost(schema, INCLUDE, null, { o: ORG, x: false });
    const on = costs.cost(schema, INCLUDE, null, { o: ORG, x: true });
    expect(off).toBe(operationCost(schema, INCLUDE, null, { o: ORG, x: false }));
    expect(on).toBe(operationCost(schema, INCLUDE, null, { o: ORG, x: true }));
    expect(on).toBeGreaterThan(off);
  });

  it('[cost-per-document] variables that do not coerce cost 0, also once the document is known', () => {
    const costs = new OperationCostCache(operationCost, fieldCost);
    expect(costs.cost(schema, START, null, { input: { userId: USER } })).toBeGreaterThan(0);
    expect(costs.cost(schema, START, null, { input: 'not an object' })).toBe(0);
    expect(costs.cost(schema, START, null, {})).toBe(operationCost(schema, START, null, {}));
    expect(costs.cost(schema, START, 'NoSuchOperation', { input: { userId: USER } })).toBe(0);
  });
});
