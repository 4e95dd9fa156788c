import { getOperationAST, getVariableValues, Kind, type DocumentNode, type FieldNode, type GraphQLSchema, type ValueNode } from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';

/** How cost.ts computes an operation's cost with a given field estimator. */
export type CostFunction = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  estimator: ComplexityEstimator,
) => number;

function holdsVariable(value: ValueNode): boolean {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(holdsVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((f) => holdsVariable(f.value));
  return false;
}

function argumentHoldsVariable(node: FieldNode, name: string): boolean {
  const argument = node.arguments?.find((a) => a.name.value === name);
  return argument !== undefined && holdsVariable(argument.value);
}

/** A directive argument holding a variable (`@include(if: $x)`): which fields count depends on the variables. */
function directivesHoldVariables(document: DocumentNode): boolean {
  let found = false;
  const walk = (node: unknown): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    const n = node as { kind?: string; arguments?: readonly { value: ValueNode }[] };
    if (n.kind === Kind.DIRECTIVE && n.arguments?.some((a) => holdsVariable(a.value))) {
      found = true;
      return;
    }
    for (const [key, child] of Object.entries(node)) if (key !== 'loc' && typeof child === 'object') walk(child);
  };
  walk(document.definitions);
  return found;
}

interface Known {
  schema: GraphQLSchema;
  /** The cost whatever the variables (that coerce); null: it depends on them, computed every time. */
  cost: number | null;
}

/**
 * The operation cost (cost.ts) of a document, computed once per document and
 * operation name when it does not depend on the variables: a login storm
 * sends the same `startSession` document with a different user id each time,
 * and costing it was 4 % of the gateway's CPU.
 *
 * Whether a cost depends on the variables is observed, not assumed: the
 * first computation runs the field estimator on arguments that record every
 * argument it reads; reading one whose value holds a variable (or a
 * directive argument holding one, `@include(if: $x)`) makes the cost
 * variable-dependent, and it is then computed for every request. Variables
 * that do not coerce still cost 0 (execution refuses them), as in cost.ts.
 * Documents are keyed by identity (cost.ts keeps one parsed document per
 * query text); entries go with their documents.
 *
 * @example
 * const costs = new OperationCostCache(operationCost, fieldCost);
 * costs.cost(schema, document, null, { input: { userId } });
 */
export class OperationCostCache {
  private readonly byDocument = new WeakMap<DocumentNode, Map<string, Known>>();

  constructor(
    private readonly compute: CostFunction,
    private readonly estimator: ComplexityEstimator,
  ) {}

  cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | null | undefined,
  ): number {
    const key = operationName ?? '';
    const known = this.byDocument.get(document)?.get(key);
    if (known && known.schema === schema && known.cost === null)
      return this.compute(schema, document, operationName, variables, this.estimator);
    const operation = getOperationAST(document, operationName ?? undefined);
    if (!operation) return 0;
    if (getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}).errors) return 0;
    if (known && known.schema === schema && known.cost !== null) return known.cost;

    let dependent = directivesHoldVariables(document);
    const base = this.estimator;
    const observing: ComplexityEstimator = (options) => {
      const node = options.node;
      const watch = (name: string | symbol) => {
        if (typeof name === 'string' && argumentHoldsVariable(node, name)) dependent = true;
      };
      const args = new Proxy(options.args, {
        get(target, name, receiver) {
          watch(name);
          return Reflect.get(target, name, receiver);
        },
        has(target, name) {
          watch(name);
          return Reflect.has(target, name);
        },
        ownKeys(target) {
          if (node.arguments?.some((a) => holdsVariable(a.value))) dependent = true;
          return Reflect.ownKeys(target);
        },
        getOwnPropertyDescriptor(target, name) {
          watch(name);
          return Reflect.getOwnPropertyDescriptor(target, name);
        },
      });
      return base({ ...options, args });
    };
    const cost = this.compute(schema, document, operationName, variables, observing);
    // Infinity (too many fields) and NaN (an unreadable argument) are not kept: rare, and not worth reasoning about.
    if (Number.isFinite(cost)) {
      let perDocument = this.byDocument.get(document);
      if (!perDocument) {
        perDocument = new Map();
        this.byDocument.set(document, perDocument);
      }
      perDocument.set(key, { schema, cost: dependent ? null : cost });
    }
    return cost;
  }
}
