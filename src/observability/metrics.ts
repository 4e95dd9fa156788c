import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The gateway's Prometheus metrics, one registry per app (tests run several
 * apps in one process). `/metrics` serves `registry.metrics()`.
 *
 * The seat gauges are registered now and fed by the modules that own seats
 * and subscriptions; until then they stay empty (no invented values).
 *
 * @example
 * const metrics = createMetrics();
 * metrics.seatsInUse.set({ product: 'AGENT' }, 12);
 * metrics.subscribers.inc();
 * metrics.sessionsExpired.inc(3);
 * await metrics.registry.metrics(); // Prometheus text format
 */
export interface Metrics {
  registry: Registry;
  /** HTTP requests to /graphql by method and status. */
  httpRequests: Counter<'method' | 'status'>;
  /** GraphQL operations by type (query, mutation, subscription, unknown when unparsable) and transport (http, ws). */
  operations: Counter<'type' | 'transport'>;
  /** Errors returned to clients by extensions.code (INTERNAL_SERVER_ERROR for masked ones, NONE when a library gave none). */
  errors: Counter<'code'>;
  /** Duration of GraphQL operations, from parameters to result. */
  operationDuration: Histogram<'type' | 'transport'>;
  /** Requests refused by a rate limit (auth: bad tokens per client address; activation: activateLicenseKey per organization). */
  rateLimited: Counter<'limit'>;
  /** Open graphql-ws connections. */
  websocketConnections: Gauge;
  /**
   * Shared seatUsage frames written over graphql-ws, by path: `iterator`
   * (through the subscriber's own iterator and envelop's per-result
   * pipeline) or `direct` (handed to the socket as the hub pushes it, see
   * server/ws-frames.ts).
   */
  sharedFrames: Counter<'path'>;
  /**
   * Concurrent seats held now, per product summed over organizations; per
   * organization and product only with `perOrganization` (METRICS_PER_ORGANIZATION),
   * since /metrics may be open and organization ids are tenant data (R-SEC-7).
   */
  seatsInUse: Gauge<'organization' | 'product'>;
  /** Live subscribers (fed by the subscription module). */
  subscribers: Gauge;
  /** Sessions that expired because no heartbeat renewed them (fed by the seats module). */
  sessionsExpired: Counter;
  /** Transactions PostgreSQL aborted with a deadlock (40P01) or serialization failure (40001): retried, or given up after the bound. */
  transactionRetries: Counter<'code' | 'outcome'>;
  /** Background sweep failures per organization, by sweep (license, session_expiry); the other organizations were swept. */
  sweepFailures: Counter<'sweep'>;
  /**
   * Session starts refused, by denial code and product ("none" when the
   * denial names none), and by organization only with `perOrganization`
   * (METRICS_PER_ORGANIZATION), as `seats_in_use`: every denial is counted,
   * also those whose SESSION_DENIED event the storm bound left out.
   */
  sessionsDenied: Counter<'organization' | 'product' | 'code'>;
  /** Counts one refused start (drops the organization label unless `perOrganization`). */
  countDenial(labels: { organization: string; product: string; code: string }): void;
  /**
   * Reads counters other modules keep, at each scrape: licence allocations
   * served per source (`gateway_allocation_reads_total`: cache, stored row,
   * computed) and live notices dropped while the database was away
   * (`gateway_live_notices_dropped_total`, db/announcer.ts).
   */
  trackInternals(source: () => { allocation: { hits: number; stored: number; allocations: number }; noticesDropped: number }): void;
  /** Reads the seat gauge from the database at each scrape, so it is exact on every instance. */
  trackSeats(source: () => Promise<readonly { organization: string; product: string; inUse: number }[]>): void;
}

export interface MetricsOptions {
  /** Also collect Node's process metrics (CPU, memory, event loop lag, GC); main.ts turns this on. */
  processMetrics?: boolean;
  /** METRICS_PER_ORGANIZATION: label seats_in_use with the organization id too (default: per product only). */
  perOrganization?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const perOrganization = options.perOrganization ?? false;
  let seatSource: Parameters<Metrics['trackSeats']>[0] | null = null;
  const sessionsDenied = new Counter<'organization' | 'product' | 'code'>({
    name: 'gateway_sessions_denied_total',
    help: perOrganization
      ? 'Session starts refused, per organization, product (none when the denial names none) and denial code'
      : 'Session starts refused, per product (none when the denial names none) and denial code, all organizations together',
    labelNames: perOrganization ? ['organization', 'product', 'code'] : ['product', 'code'],
    registers,
  });
  let internals: Parameters<Metrics['trackInternals']>[0] | null = null;
  new Counter<'source'>({
    name: 'gateway_allocation_reads_total',
    help: 'Licence allocations served: from the cache, from the stored row of the last write, or computed from all inputs',
    labelNames: ['source'],
    registers,
    collect() {
      if (!internals) return;
      const { allocation } = internals();
      this.reset();
      this.inc({ source: 'cache' }, allocation.hits);
      this.inc({ source: 'stored' }, allocation.stored);
      this.inc({ source: 'computed' }, allocation.allocations);
    },
  });
  new Counter({
    name: 'gateway_live_notices_dropped_total',
    help: 'Live notices dropped because too many organizations waited while the database was away',
    registers,
    collect() {
      if (!internals) return;
      this.reset();
      this.inc(internals().noticesDropped);
    },
  });
  return {
    sessionsDenied,
    trackInternals: (source) => {
      internals = source;
    },
    countDenial: ({ organization, product, code }) =>
      perOrganization ? sessionsDenied.inc({ organization, product, code }) : sessionsDenied.inc({ product, code }),
    trackSeats: (source) => {
      seatSource = source;
    },
    registry,
    httpRequests: new Counter({
      name: 'gateway_http_requests_total',
      help: 'HTTP requests to /graphql by method and status',
      labelNames: ['method', 'status'],
      registers,
    }),
    operations: new Counter({
      name: 'gateway_graphql_operations_total',
      help: 'GraphQL operations by type and transport',
      labelNames: ['type', 'transport'],
      registers,
    }),
    errors: new Counter({
      name: 'gateway_graphql_errors_total',
      help: 'GraphQL errors returned, by extensions.code',
      labelNames: ['code'],
      registers,
    }),
    operationDuration: new Histogram({
      name: 'gateway_graphql_operation_duration_seconds',
      help: 'Duration of GraphQL operations',
      labelNames: ['type', 'transport'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    rateLimited: new Counter({
      name: 'gateway_rate_limited_total',
      help: 'Requests refused by a rate limit',
      labelNames: ['limit'],
      registers,
    }),
    websocketConnections: new Gauge({ name: 'gateway_websocket_connections', help: 'Open graphql-ws connections', registers }),
    sharedFrames: new Counter({
      name: 'gateway_ws_shared_frames_total',
      help: 'Shared seatUsage frames written over graphql-ws, by path (iterator, direct)',
      labelNames: ['path'],
      registers,
    }),
    seatsInUse: new Gauge({
      name: 'seats_in_use',
      help: perOrganization
        ? 'Concurrent seats in use per organization and product (every kind: regular, emergency, overage)'
        : 'Concurrent seats in use per product, all organizations together (every kind: regular, emergency, overage)',
      labelNames: perOrganization ? ['organization', 'product'] : ['product'],
      registers,
      async collect() {
        if (!seatSource) return;
        const rows = await seatSource();
        this.reset();
        if (perOrganization) {
          for (const r of rows) this.set({ organization: r.organization, product: r.product }, r.inUse);
          return;
        }
        const byProduct = new Map<string, number>();
        for (const r of rows) byProduct.set(r.product, (byProduct.get(r.product) ?? 0) + r.inUse);
        for (const [product, inUse] of byProduct) this.set({ product }, inUse);
      },
    }),
    subscribers: new Gauge({ name: 'subscribers', help: 'Live GraphQL subscribers', registers }),
    sessionsExpired: new Counter({ name: 'sessions_expired_total', help: 'Sessions expired for want of a heartbeat', registers }),
    transactionRetries: new Counter({
      name: 'gateway_transaction_conflicts_total',
      help: 'Transactions aborted by a deadlock or serialization failure, by SQLSTATE and outcome (retried, gave_up)',
      labelNames: ['code', 'outcome'],
      registers,
    }),
    sweepFailures: new Counter({
      name: 'gateway_sweep_failures_total',
      help: 'Background sweep failures, one per organization and sweep (license, session_expiry)',
      labelNames: ['sweep'],
      registers,
    }),
  };
}
