import {
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isLeafType,
  isListType,
  parse,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schema/pagination.ts';
import { MAX_IMPORT_USERS, MAX_NODE_IDS, MAX_SITES_PER_ORGANIZATION, MAX_TEAMS_PER_ORGANIZATION } from '../tenancy/validate.ts';
import { OperationCostCache } from './cost-cache.ts';
import { rateLimitError } from './rate-limit.ts';
import { Slot } from '../slot.ts';

/**
 * What an operation costs, computed before it runs, with its variables' values
 * (R-SEC-3). graphql-query-complexity walks the operation (fragments,
 * `@skip`/`@include`, coerced variables and argument defaults); the estimator
 * below prices each field:
 *
 * - every field costs 1, plus what its selection costs, except the scalar
 *   and enum fields of VALUE_TYPES: those are read from an object already
 *   loaded (a row of a batched loader, the request's allocation view, the
 *   catalog) and cost nothing of their own; the object they are read from is
 *   what costs (each object of a list at least 1), and the size of what they
 *   add to a response is GRAPHQL_MAX_RESPONSE_BYTES' business;
 * - a connection (a field with a `first` argument) multiplies its selection by
 *   `first` or `last` (the literal, the variable's value or the default page
 *   size, never more than the largest page the field serves);
 * - importUsers multiplies its selection by the rows it is given (its answer
 *   holds one per row), plus IMPORT_ROW_COST per row for the work;
 * - an interval field (`from` and `to` arguments, e.g. `usage`, `usagePerDay`,
 *   `seatHistory`) costs 4 per hour of the interval it reads, plus its rows
 *   (`usagePerDay`: one per calendar day the interval meets);
 * - any other list multiplies its selection by the size assumed for it
 *   (LIST_SIZES; catalog lists by the largest preset, tenant lists by a
 *   generous organization, introspection lists by 5).
 *
 * So the cost is about the number of objects the response may hold (each
 * one loaded, batched or computed) plus the rows an interval reads:
 * `users(first: 100)` with site, group, team, licences and warnings costs
 * about 4,000; `users(first: 500) { … site { users(first: 500) … } }` (a
 * query per site) costs over 250,000.
 */

/** The most users one moveUsers names (assignments.service.ts refuses more). */
const MOVE_USERS_MAX = 1000;

/** What importing one row costs besides its answer (validation, insert, licence rules). */
const IMPORT_ROW_COST = 1;

/** Units of a pool (sites and groups with a bound or seats in use): the default list size, as PoolUsage.units. */
const DEFAULT_UNIT_LIST = 10;

/** Assumed sizes of lists without a size argument, by `Type.field`; others DEFAULT_LIST_SIZE. */
const LIST_SIZES: Readonly<Record<string, number>> = {
  // The presets: 4 catalogs, at most 28 products, 21 inclusions, 5 requirements of 3 alternatives.
  'Query.catalogs': 4,
  'Catalog.products': 30,
  'Product.includes': 5,
  'Product.requirements': 5,
  'Requirement.anyOf': 3,
  // Rows per product of the catalog.
  'Organization.licenseMapping': 30,
  // Sites and groups with a bound or seats in use, per concurrent row (as seatUsage's PoolUsage.units).
  'LicenseMappingRow.units': DEFAULT_UNIT_LIST,
  'Organization.usage': 30,
  'LicenseStatus.entitlements': 30,
  'SeatUsage.pools': 30,
  'BillingReport.rows': 30,
  'Site.licenseOverview': 30,
  // Organization-wide lists.
  // Bounded at creation (src/tenancy/validate.ts), so the assumption is the truth.
  'Organization.sites': MAX_SITES_PER_ORGANIZATION,
  'Organization.teams': MAX_TEAMS_PER_ORGANIZATION,
  'Organization.warnings': 100,
  'Team.members': 100,
  'AnalyticsAccess.unlicensedMembers': 100,
  // A mutation payload's lists of users or of per-user rows: moveUsers names up to 1000 users.
  'MoveUsersPayload.users': MOVE_USERS_MAX,
  'MoveUsersPayload.warnings': MOVE_USERS_MAX,
  'MoveUsersPayload.released': MOVE_USERS_MAX,
  'MoveUsersPayload.deletedSettings': MOVE_USERS_MAX,
  'UpdateConfigurationGroupPayload.released': MOVE_USERS_MAX,
  'UpdateConfigurationGroupPayload.deletedSettings': MOVE_USERS_MAX,
  // A connection's edges: the connection already multiplied by `first`.
  'UserConnection.edges': 1,
  'LicenseEventConnection.edges': 1,
  'SessionConnection.edges': 1,
  'UsageDay.rows': 30,
  'WebhookDeliveryConnection.edges': 1,
  'SiteConnection.edges': 1,
  'TeamConnection.edges': 1,
  'TeamMemberConnection.edges': 1,
  // importUsers multiplies its whole selection by its rows (fieldCost): one row here.
  'ImportUsersPayload.rows': 1,
  'Query.nodes': MAX_NODE_IDS,
  'DeleteTeamPayload.movedUsers': MOVE_USERS_MAX,
};
const DEFAULT_LIST_SIZE = 10;

/**
 * Types whose scalar and enum fields are read from the object itself (a row
 * a batched loader of schema/loaders.ts brought, the request's allocation
 * view, the loaded catalog, a computed report row): no query and no work of
 * their own, so they cost 0 (the object costs). A type with a scalar field
 * that runs a query (a count, like `UserConnection.totalCount` or
 * `Organization.activeUsers`) is not listed.
 */
const VALUE_TYPES = new Set([
  'Catalog',
  'Product',
  'Requirement',
  'User',
  'UserEdge',
  'UserLicense',
  'Warning',
  'Explanation',
  'Site',
  'ConfigurationGroup',
  'Team',
  'Session',
  'SessionEdge',
  'Denial',
  'ChannelDenial',
  'LicenseEvent',
  'LicenseEventEdge',
  'PageInfo',
  'PoolUsage',
  'UsageRow',
  'UsageDay',
  'OverageEpisode',
  'SeatHistoryPoint',
]);
/** Lists of introspection types (`__Schema.types`, `__Type.fields` …): GraphiQL's introspection query costs about 5,000. */
const INTROSPECTION_LIST_SIZE = 5;
/** Per hour of an interval field's [from, to). */
const INTERVAL_HOUR_COST = 4;
/** seatHistory returns at most 10,000 points; assumed 60 per hour of the interval until then. */
const SEAT_HISTORY_POINTS_PER_HOUR = 60;
const SEAT_HISTORY_MAX_POINTS = 10_000;
const HOUR_MS = 3_600_000;
/** The longest month: what `Organization.billing(month)` reads of the usage series, priced like usage(from, to) over it. */
const MONTH_HOURS = 31 * 24;

function hoursOf(from: unknown, to: unknown): number {
  if (!(from instanceof Date) || !(to instanceof Date)) return 1;
  const ms = to.getTime() - from.getTime();
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / HOUR_MS) : 1;
}

/** The estimator of every field (see the module comment). */
export const fieldCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  const key = `${type.name}.${field.name}`;
  if (key === 'Mutation.importUsers') {
    const users = (args.input as { users?: unknown } | undefined)?.users;
    const rows = Array.isArray(users) ? Math.min(users.length, MAX_IMPORT_USERS) : MAX_IMPORT_USERS;
    return 1 + rows * (IMPORT_ROW_COST + Math.max(1, childComplexity));
  }
  if (field.args.some((a) => a.name === 'first')) {
    const requested = typeof args.first === 'number' ? args.first : typeof args.last === 'number' ? args.last : DEFAULT_PAGE_SIZE;
    return 1 + Math.min(MAX_PAGE_SIZE, Math.max(0, requested)) * Math.max(1, childComplexity);
  }
  const isInterval = field.args.some((a) => a.name === 'from') && field.args.some((a) => a.name === 'to');
  if (isInterval) {
    const hours = hoursOf(args.from, args.to);
    const rows =
      key === 'Organization.seatHistory'
        ? Math.min(SEAT_HISTORY_MAX_POINTS, hours * SEAT_HISTORY_POINTS_PER_HOUR)
        : key === 'Organization.usagePerDay'
          ? Math.ceil(hours / 24) + 1
          : (LIST_SIZES[key] ?? DEFAULT_LIST_SIZE);
    return 1 + hours * INTERVAL_HOUR_COST + rows * Math.max(1, childComplexity);
  }
  if (key === 'Organization.billing') return 1 + MONTH_HOURS * INTERVAL_HOUR_COST + childComplexity;
  const leaf = isLeafType(getNamedType(field.type));
  if (leaf && field.args.length === 0 && VALUE_TYPES.has(type.name)) return 0;
  if (isListType(getNullableType(field.type)) && (!leaf || childComplexity > 0)) {
    const size = LIST_SIZES[key] ?? (type.name.startsWith('__') ? INTROSPECTION_LIST_SIZE : DEFAULT_LIST_SIZE);
    return 1 + size * Math.max(1, childComplexity);
  }
  return 1 + childComplexity;
};

/** Refused before it runs: beyond graphql-query-complexity's node limit the cost counts as infinite. */
const MAX_QUERY_NODES = 10_000;

/**
 * The cost of the operation `operationName` of `document` with `variables`.
 * 0 when there is nothing to run (no such operation, variables that do not
 * coerce): execution refuses those itself, with its own error. Infinity when
 * the operation has more fields than MAX_QUERY_NODES (fragments expanded).
 * NaN when an argument cannot be read (an invalid document: validation
 * refuses it; should one reach execution it is refused, never run uncosted).
 *
 * @example
 * operationCost(schema, parse('query($n: Int) { organization(id: "x") { users(first: $n) { totalCount } } }'), null, { n: 500 }); // 502
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  estimator: ComplexityEstimator = fieldCost,
): number {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return 0;
  // Variables that do not coerce: execution refuses the operation with its own error.
  if (getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}).errors) return 0;
  try {
    return getComplexity({
      schema,
      query: { ...document, definitions: document.definitions.filter((d) => d === operation || d.kind === 'FragmentDefinition') },
      variables: variables ?? {},
      estimators: [estimator],
      maxQueryNodes: MAX_QUERY_NODES,
    });
  } catch (error) {
    if (error instanceof GraphQLError && /maximum allowed number of nodes/.test(error.message)) return Number.POSITIVE_INFINITY;
    // An argument it cannot read (a document that is not valid): NaN, refused if it ever gets to execution.
    return Number.NaN;
  }
}

export interface CostLimits {
  /** GRAPHQL_MAX_COST: the most an operation, or all operations of a batched HTTP request together, may cost. */
  maxCost: number;
  /** GRAPHQL_MAX_RESPONSE_BYTES: the largest result (JSON) of one request, a batch's results together; 0 off. */
  maxResponseBytes: number;
  /** GRAPHQL_EXPENSIVE_COST: from this cost on, an operation takes one of its organization's slots. */
  expensiveCost: number;
  /** GRAPHQL_EXPENSIVE_CONCURRENCY: slots per organization (the operator has its own); 0 off. */
  expensiveConcurrency: number;
  /** GRAPHQL_EXPENSIVE_WAIT_MS: how long an expensive operation waits for a slot before RATE_LIMITED. */
  expensiveWaitMs: number;
}

function formatCost(cost: number): string {
  if (Number.isNaN(cost)) return 'unknown (an argument could not be read)';
  return Number.isFinite(cost) ? String(Math.ceil(cost)) : `beyond bound (more than ${MAX_QUERY_NODES} fields)`;
}

/** The cost refusal: BAD_USER_INPUT naming R-SEC-3, HTTP 400, with the cost and the limit. */
export function costError(cost: number, limit: number, batch = false): GraphQLError {
  const what = batch ? 'the operations of this request cost' : 'operation cost';
  return new GraphQLError(
    `${what} ${formatCost(cost)}, over the limit of ${limit} (GRAPHQL_MAX_COST); ask for smaller pages or shorter intervals (R-SEC-3)`,
    {
      extensions: {
        code: 'BAD_USER_INPUT',
        rule: 'R-SEC-3',
        field: 'query',
        cost: Number.isFinite(cost) ? Math.ceil(cost) : null,
        maxCost: limit,
        http: { status: 400 },
      },
    },
  );
}

/** An over-sized result, replaced: BAD_USER_INPUT naming R-SEC-3 (the data is not sent). */
export function responseSizeError(limit: number): GraphQLError {
  return new GraphQLError(
    `the result is larger than ${limit} bytes (GRAPHQL_MAX_RESPONSE_BYTES) and was not sent; ask for smaller pages (R-SEC-3)`,
    {
      extensions: { code: 'BAD_USER_INPUT', rule: 'R-SEC-3', field: 'query', maxResponseBytes: limit, http: { status: 400 } },
    },
  );
}

/**
 * Bytes of `value` as JSON, counted without building the string, stopping as
 * soon as `limit` is passed (then it returns a number above `limit`). Strings
 * count their UTF-16 length plus quotes (escapes not counted).
 */
export function jsonSizeWithin(value: unknown, limit: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    if (size > limit) return size;
    const v = stack.pop();
    if (v === null || v === undefined) size += 4;
    else if (typeof v === 'string') size += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') size += String(v).length;
    else if (v instanceof Date) size += 26;
    else if (Array.isArray(v)) {
      size += 1 + v.length;
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      size += 1 + entries.length;
      for (const [key, item] of entries) {
        size += key.length + 3;
        stack.push(item);
      }
    }
  }
  return size;
}

/**
 * Slots per key (organization): at most `slots` holders at once; others wait
 * up to `waitMs` in order of arrival (at most `slots * 4` waiters), then are
 * refused. Memory: one entry per key with holders or waiters.
 */
export class TenantSlots {
  readonly #keys = new Map<string, { held: number; waiting: { grant: () => void }[] }>();

  constructor(
    readonly slots: number,
    readonly waitMs: number,
  ) {}

  /** Resolves with the release function, or with null when no slot came free within waitMs. */
  async acquire(key: string): Promise<(() => void) | null> {
    let entry = this.#keys.get(key);
    if (!entry) {
      entry = { held: 0, waiting: [] };
      this.#keys.set(key, entry);
    }
    const state = entry;
    const release = () => {
      const next = state.waiting.shift();
      if (next) next.grant();
      else if (--state.held === 0) this.#keys.delete(key);
    };
    let released = false;
    const once = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    if (state.held < this.slots) {
      state.held++;
      return once;
    }
    if (this.waitMs <= 0 || state.waiting.length >= this.slots * 4) return null;
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(once);
        },
      };
      const timer = setTimeout(() => {
        const i = state.waiting.indexOf(waiter);
        if (i >= 0) state.waiting.splice(i, 1);
        resolve(null);
      }, this.waitMs);
      state.waiting.push(waiter);
    });
  }

  /** Holders of `key` now (for tests and metrics). */
  held(key: string): number {
    return this.#keys.get(key)?.held ?? 0;
  }
}

function slotKey(viewer: Viewer | undefined): string {
  if (viewer?.kind === 'token') return `organization:${viewer.organizationId}`;
  return viewer?.kind ?? 'anonymous';
}

function busyError(limits: CostLimits): GraphQLError {
  const error = rateLimitError(
    `this organization already runs ${limits.expensiveConcurrency} expensive operations (cost ${limits.expensiveCost} or more; GRAPHQL_EXPENSIVE_CONCURRENCY); try again shortly (R-SEC-3)`,
    1000,
  );
  Object.assign(error.extensions, { rule: 'R-SEC-3' });
  return error;
}

/** PostgreSQL's query_canceled: statement_timeout (or a cancel request). */
const QUERY_CANCELED = '57014';

function isStatementTimeout(error: GraphQLError): boolean {
  for (
    let e: unknown = error.originalError;
    e;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause
  ) {
    if ((e as { code?: unknown }).code === QUERY_CANCELED) return true;
  }
  return false;
}

/** A statement over DATABASE_STATEMENT_TIMEOUT_MS: STATEMENT_TIMEOUT, HTTP 503, retryable (no SQL in it). */
export function statementTimeoutError(path: GraphQLError['path']): GraphQLError {
  return new GraphQLError(
    'a database statement took longer than DATABASE_STATEMENT_TIMEOUT_MS and was cancelled; nothing was changed; retry later or ask for less',
    {
      path,
      extensions: { code: 'STATEMENT_TIMEOUT', retryable: true, http: { status: 503, headers: { 'retry-after': '1' } } },
    },
  );
}

interface RequestState {
  /** Result bytes of this request's operations so far (a batch adds up). */
  bytes: number;
}

/**
 * The cost, response size and per-organization concurrency limits, as one
 * envelop plugin: it works on HTTP (each request and each batch as a whole)
 * and on graphql-ws (whose operations use `yoga.getEnveloped`) alike.
 *
 * - HTTP: once the request is parsed, every operation of it (a batch is a
 *   JSON array) is costed with its variables and the costs are summed; over
 *   `maxCost` the request is refused before any operation runs.
 * - Every operation (HTTP, SSE, WebSocket) is costed again right before it
 *   executes or subscribes; over `maxCost` it is refused.
 * - An operation costing `expensiveCost` or more takes a slot of its
 *   organization (TenantSlots) while it executes; without one within
 *   `expensiveWaitMs` it gets RATE_LIMITED (429, Retry-After).
 * - A result over `maxResponseBytes` (a batch's results together; each event
 *   of a subscription on its own) is replaced by an error before it is sent.
 * - A database statement cancelled by statement_timeout becomes STATEMENT_TIMEOUT
 *   instead of a masked "Unexpected error.".
 */
export function useOperationCost(limits: CostLimits & { maxTokens?: number }): Plugin {
  let schema: GraphQLSchema | null = null;
  const documents = new Map<string, DocumentNode | null>();
  /** Costs per document that do not depend on the variables (cost-cache.ts). */
  const costs = new OperationCostCache(operationCost, fieldCost);
  const slots = new TenantSlots(limits.expensiveConcurrency, limits.expensiveWaitMs);
  // Kept on the request and params objects, not in WeakMaps (slot.ts).
  const requests = new Slot<object, RequestState>('response bytes');
  /** Costs computed for an HTTP request's params, reused when that very operation executes (same query, variables, name). */
  const costed = new Slot<object, { query: string; variables: unknown; operationName: unknown; cost: number }>('operation cost');
  /**
   * Subscription events checked, by result: subscribers of one operation
   * share one result object (live/shared-execution.ts), checked once for all
   * of them. The answer depends on the result alone; gone with the result.
   */
  const checkedEvents = new WeakMap<ExecutionResult, ExecutionResult | null>();

  function costOf(args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null;
    variableValues?: unknown;
    contextValue?: unknown;
  }): number {
    const params = (args.contextValue as { params?: { query?: unknown; variables?: unknown; operationName?: unknown } } | undefined)
      ?.params;
    const known = params ? costed.get(params) : undefined;
    if (
      known &&
      params &&
      known.query === params.query &&
      known.variables === params.variables &&
      known.operationName === params.operationName &&
      (args.operationName ?? undefined) === (params.operationName ?? undefined)
    ) {
      return known.cost;
    }
    return operationCost(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | null);
  }

  /**
   * Parsed with twice the gateway's token bound; a document that does not
   * parse costs 0 here (the gateway's parser refuses it before anything runs)
   * and is costed again at execution.
   * Short documents (the usual, repeated ones) are kept, at most 200.
   */
  function documentOf(query: string): DocumentNode | null {
    let document = documents.get(query);
    if (document === undefined) {
      try {
        // Twice the gateway's bound: a document the gateway's own parser accepts is always costed here.
        document = parse(query, { maxTokens: 2 * (limits.maxTokens ?? 50_000), noLocation: true });
      } catch {
        document = null;
      }
      if (query.length <= 8192) {
        if (documents.size >= 200) documents.delete(documents.keys().next().value!);
        documents.set(query, document);
      }
    }
    return document;
  }

  function sizeChecked(result: ExecutionResult, request: object | undefined): ExecutionResult | null {
    let changed: ExecutionResult | null = null;
    if (result.errors?.some(isStatementTimeout)) {
      changed = { ...result, errors: result.errors.map((e) => (isStatementTimeout(e) ? statementTimeoutError(e.path) : e)) };
    }
    if (limits.maxResponseBytes > 0 && result.data) {
      const state = request ? (requests.get(request) ?? { bytes: 0 }) : { bytes: 0 };
      if (request) requests.set(request, state);
      const budget = limits.maxResponseBytes - state.bytes;
      const size = jsonSizeWithin(result.data, budget);
      if (size > budget) return { errors: [responseSizeError(limits.maxResponseBytes)] };
      state.bytes += size;
    }
    return changed;
  }

  return {
    onSchemaChange({ schema: next }) {
      schema = next;
    },
    onRequestParse() {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (!schema) return;
          const all = Array.isArray(requestParserResult) ? requestParserResult : [requestParserResult];
          let total = 0;
          for (const params of all) {
            if (typeof params?.query !== 'string') continue;
            const document = documentOf(params.query);
            if (!document) continue;
            const variables = params.variables && typeof params.variables === 'object' ? (params.variables as Record<string, unknown>) : {};
            const cost = costs.cost(schema, document, params.operationName, variables);
            if (Number.isNaN(cost)) continue; // not valid: validation answers it
            costed.set(params, { query: params.query, variables: params.variables, operationName: params.operationName, cost });
            total += cost;
            if (total > limits.maxCost) throw costError(total, limits.maxCost, all.length > 1);
          }
        },
      };
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const cost = costOf(args);
      if (!(cost <= limits.maxCost)) {
        setResultAndStopExecution({ errors: [costError(cost, limits.maxCost)] });
        return;
      }
      return {
        onSubscribeResult() {
          return {
            onNext({ result, setResult }) {
              let checked = checkedEvents.get(result);
              if (checked === undefined) {
                checked = sizeChecked(result, undefined);
                checkedEvents.set(result, checked);
              }
              if (checked) setResult(checked);
            },
          };
        },
      };
    },
    onExecute({ args, executeFn, setExecuteFn, setResultAndStopExecution }) {
      const cost = costOf(args);
      if (!(cost <= limits.maxCost)) {
        setResultAndStopExecution({ errors: [costError(cost, limits.maxCost)] });
        return;
      }
      const context = args.contextValue as { viewer?: Viewer; request?: object };
      if (limits.expensiveConcurrency > 0 && cost >= limits.expensiveCost) {
        setExecuteFn(async (executionArgs) => {
          const release = await slots.acquire(slotKey(context.viewer));
          if (!release) return { errors: [busyError(limits)] };
          try {
            return await executeFn(executionArgs);
          } finally {
            release();
          }
        });
      }
      return {
        onExecuteDone({ result, setResult }) {
          if (Symbol.asyncIterator in result) return;
          const checked = sizeChecked(result, context.request);
          if (checked) setResult(checked);
        },
      };
    },
  };
}
