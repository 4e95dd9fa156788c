import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { useOperationCost, type CostLimits } from './cost.ts';
import { useRequestErrors } from './request-errors.ts';

/**
 * Operation limits (R-SEC-3). Every field comes from an environment variable
 * (see config.ts and the README's Operations section).
 *
 * @example
 * const yoga = createYoga({ ...yogaLimitOptions(limits), plugins: operationLimitPlugins(limits) });
 */
export interface OperationLimits extends CostLimits {
  /** GRAPHQL_MAX_DEPTH: nesting of selection sets (introspection not counted). */
  maxDepth: number;
  /** GRAPHQL_MAX_ALIASES: aliased fields per operation. */
  maxAliases: number;
  /** GRAPHQL_MAX_TOKENS: lexical tokens in the document, checked while parsing. */
  maxTokens: number;
  /** GRAPHQL_MAX_COST: an operation's cost with its variables, and a batched request's total (see cost.ts). */
  maxCost: number;
  /** GRAPHQL_MAX_DIRECTIVES: directives per operation. */
  maxDirectives: number;
  /** GRAPHQL_MAX_BATCH: operations in one batched HTTP request (a JSON array); 0 refuses batches. */
  maxBatch: number;
  /** MAX_REQUEST_BODY_BYTES: HTTP request bodies and WebSocket messages. */
  maxBodyBytes: number;
  /** GRAPHQL_INTROSPECTION: false refuses __schema/__type and hides "Did you mean …" suggestions. */
  introspection: boolean;
}

export const DEFAULT_LIMITS: Readonly<OperationLimits> = {
  maxDepth: 12,
  maxAliases: 30,
  maxTokens: 2000,
  maxCost: 50_000,
  maxResponseBytes: 8 * 1024 * 1024,
  expensiveCost: 2_000,
  expensiveConcurrency: 3,
  expensiveWaitMs: 1_000,
  maxDirectives: 50,
  maxBatch: 10,
  maxBodyBytes: 1024 * 1024,
  introspection: true,
};

/** The refusal every limit answers with: BAD_USER_INPUT naming R-SEC-3, HTTP 400. */
function limitError(message: string): GraphQLError {
  return new GraphQLError(`${message.replace(/^Syntax Error: /, '')} (R-SEC-3)`, {
    extensions: { code: 'BAD_USER_INPUT', rule: 'R-SEC-3', field: 'query', http: { status: 400 } },
  });
}

/** graphql-armor reports through callbacks: validation rules report a coded error instead of throwing. */
const reportLimit = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(error.message))],
};

/**
 * The envelop plugins enforcing the limits. They run on HTTP and on graphql-ws
 * alike, because WebSocket operations use `yoga.getEnveloped` too.
 */
export function operationLimitPlugins(limits: OperationLimits): Plugin[] {
  const plugins: Plugin[] = [
    maxTokensPlugin({
      n: limits.maxTokens,
      // The token counter runs inside the parser, with no validation context: it
      // throws, and the thrown error gets the same code and status as the others.
      onReject: [(_context, error) => void Object.assign(error.extensions, limitError(error.message).extensions)],
    }),
    maxDepthPlugin({ n: limits.maxDepth, ...reportLimit }),
    maxAliasesPlugin({ n: limits.maxAliases, ...reportLimit }),
    useOperationCost(limits),
    maxDirectivesPlugin({ n: limits.maxDirectives, ...reportLimit }),
  ];
  if (!limits.introspection) plugins.push(useNoIntrospection(), blockFieldSuggestionsPlugin());
  plugins.push(useRequestErrors({ hideSuggestions: !limits.introspection }));
  return plugins;
}

/**
 * Refuses __schema and __type with graphql-js' own rule. (Yoga's
 * plugin-disable-introspection keys on the HTTP request, so it would leave
 * graphql-ws operations open; this works for both.)
 */
function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/** The Yoga options that carry limits: batching and body size. */
export function yogaLimitOptions(limits: OperationLimits): { batching: false | { limit: number }; maxRequestBodySize: number } {
  return {
    batching: limits.maxBatch > 0 ? { limit: limits.maxBatch } : false,
    maxRequestBodySize: limits.maxBodyBytes,
  };
}
