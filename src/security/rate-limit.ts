import type { IncomingMessage } from 'node:http';
import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import { rateLimited } from '../errors.ts';

/**
 * Rate limits, per gateway instance (in-process sliding windows; several
 * instances each keep their own). 0 switches a limit off.
 */
export interface RateLimits {
  /** RATE_LIMIT_AUTH_FAILURES: bad tokens one client address may present per window before it is refused. */
  authFailures: number;
  /** RATE_LIMIT_AUTH_WINDOW_SECONDS, in ms. */
  authWindowMs: number;
  /** RATE_LIMIT_ACTIVATIONS: activateLicenseKey attempts per organization per window. */
  activations: number;
  /** RATE_LIMIT_ACTIVATION_WINDOW_SECONDS, in ms. */
  activationWindowMs: number;
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = {
  authFailures: 20,
  authWindowMs: 60_000,
  activations: 10,
  activationWindowMs: 60_000,
};

/** Milliseconds from an arbitrary origin that never go backwards (not the licence Clock, which tests move back). */
export type Ticker = () => number;
export const monotonicTicker: Ticker = () => performance.now();

/**
 * A sliding-window log: at most `limit` events per key within any `windowMs`.
 * Memory is bounded: expired keys are pruned and at most `maxKeys` are kept
 * (the oldest are forgotten first).
 *
 * @example
 * const limiter = new SlidingWindowLimiter(10, 60_000);
 * if (!limiter.tryHit(organizationId)) throw rateLimited('too many attempts');
 */
export class SlidingWindowLimiter {
  readonly #hits = new Map<string, number[]>();
  #lastPrune = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: Ticker = monotonicTicker,
    private readonly maxKeys = 100_000,
  ) {}

  /** False when the limit is off (0). */
  get enabled(): boolean {
    return this.limit > 0;
  }

  #recent(key: string, now: number): number[] {
    const hits = this.#hits.get(key);
    if (!hits) return [];
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < hits.length && hits[drop]! <= from) drop++;
    if (drop > 0) hits.splice(0, drop);
    if (hits.length === 0) this.#hits.delete(key);
    return hits;
  }

  /** True when another event for `key` would go over the limit. */
  blocked(key: string): boolean {
    return this.enabled && this.#recent(key, this.now()).length >= this.limit;
  }

  /** Milliseconds until the oldest event in the window expires (0 when not blocked). */
  retryAfterMs(key: string): number {
    const now = this.now();
    const hits = this.#recent(key, now);
    if (!this.enabled || hits.length < this.limit) return 0;
    return Math.max(0, hits[0]! + this.windowMs - now);
  }

  /** Records an event. */
  hit(key: string): void {
    if (!this.enabled) return;
    const now = this.now();
    this.#prune(now);
    const hits = this.#recent(key, now);
    if (hits.length === 0) this.#hits.set(key, hits);
    hits.push(now);
    // Only `limit` events matter for the decision; older ones need not be kept.
    if (hits.length > this.limit) hits.splice(0, hits.length - this.limit);
  }

  /** Records the event and returns true, or returns false (recording nothing) when it would go over the limit. */
  tryHit(key: string): boolean {
    if (this.blocked(key)) return false;
    this.hit(key);
    return true;
  }

  #prune(now: number): void {
    if (now - this.#lastPrune >= this.windowMs) {
      this.#lastPrune = now;
      for (const key of [...this.#hits.keys()]) this.#recent(key, now);
    }
    while (this.#hits.size >= this.maxKeys) {
      const oldest = this.#hits.keys().next().value;
      if (oldest === undefined) break;
      this.#hits.delete(oldest);
    }
  }
}

/** A RATE_LIMITED error (HTTP 429) with a Retry-After header. */
export function rateLimitError(message: string, retryAfterMs: number): GraphQLError {
  const error = rateLimited(message);
  Object.assign(error.extensions, {
    http: { status: 429, headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } },
  });
  return error;
}

/**
 * The address rate limits are counted against. Behind one trusted reverse
 * proxy (TRUST_PROXY=true) it is the last X-Forwarded-For entry, the one that
 * proxy added; otherwise the socket's peer. In-process calls (yoga.fetch in
 * tests) have none, and are not limited.
 */
export function clientAddress(req: IncomingMessage | undefined, trustProxy: boolean): string | null {
  if (!req) return null;
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const value = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
    const last = value
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .at(-1);
    if (last) return last;
  }
  return req.socket?.remoteAddress ?? null;
}

const ACTIVATE = 'activateLicenseKey';

/** Root fields of the operation named `name`, through inline fragments and fragment spreads. */
function rootFieldsNamed(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  name: string,
  seen = new Set<string>(),
): FieldNode[] {
  const found: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === name) found.push(selection);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      found.push(...rootFieldsNamed(selection.selectionSet, fragments, name, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      if (fragment) found.push(...rootFieldsNamed(fragment.selectionSet, fragments, name, seen));
    }
  }
  return found;
}

/**
 * Limits activateLicenseKey attempts per organization (RATE_LIMIT_ACTIVATIONS
 * per RATE_LIMIT_ACTIVATION_WINDOW_SECONDS): an envelop plugin that reads the
 * mutation's root fields and their coerced arguments before execution, so the
 * resolver and service stay unaware of it. Only attempts the viewer may make
 * for that organization count (the operator, or a token of it): a stranger
 * cannot use up an organization's attempts.
 */
export function useActivationRateLimit(limiter: SlidingWindowLimiter, onLimited: () => void = () => undefined): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (!limiter.enabled) return;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      const fragments = new Map<string, FragmentDefinitionNode>();
      for (const definition of args.document.definitions) {
        if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
      }
      const nodes = rootFieldsNamed(operation.selectionSet, fragments, ACTIVATE);
      const field = args.schema.getMutationType()?.getFields()[ACTIVATE];
      if (nodes.length === 0 || !field) return;
      const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
      if (variables.errors) return; // execution reports them
      const viewer = (args.contextValue as { viewer?: Viewer }).viewer;
      for (const node of nodes) {
        let organizationId: unknown;
        try {
          organizationId = (getArgumentValues(field, node, variables.coerced).input as { organizationId?: unknown } | undefined)
            ?.organizationId;
        } catch {
          continue; // execution reports it
        }
        if (typeof organizationId !== 'string') continue;
        const mayAct = viewer?.kind === 'operator' || (viewer?.kind === 'token' && viewer.organizationId === organizationId);
        if (!mayAct) continue;
        if (!limiter.tryHit(organizationId)) {
          onLimited();
          const seconds = Math.round(limiter.windowMs / 1000);
          setResultAndStopExecution({
            errors: [
              rateLimitError(
                `too many licence key activation attempts for this organization: at most ${limiter.limit} per ${seconds} s; try again later`,
                limiter.retryAfterMs(organizationId),
              ),
            ],
          });
          return;
        }
      }
    },
  };
}
