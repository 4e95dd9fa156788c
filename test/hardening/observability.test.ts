import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { listen, wsRun, type ListeningApp } from '../support/listen.ts';

interface Line {
  level: string;
  time: string;
  msg: string;
  requestId?: string;
  operationName?: string;
  operationType?: string;
  transport?: string;
  status?: number;
  durationMs?: number;
  errorCodes?: string[];
  batch?: number;
}

describe('structured logs and metrics', () => {
  let gw: ListeningApp;
  let metrics: Metrics;
  const output: string[] = [];
  const lines = () =>
    output
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  let orgToken = '';
  let organizationId = '';

  beforeAll(async () => {
    metrics = createMetrics();
    const logger = createLogger('debug', { write: (chunk: string) => void output.push(chunk) });
    gw = await listen('pglite', { logger, metrics });
    const org = await gw.gql('mutation { createOrganization(input: { name: "Logged", catalog: "innoacd" }) { organization { id } } }');
    organizationId = org.data?.createOrganization.organization.id;
    const token = await gw.gql('mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }', {
      input: { organizationId, role: 'ADMIN' },
    });
    orgToken = token.data?.createApiToken.token;
  });
  afterAll(() => gw.close());

  it('logs one JSON line per operation with the request id (taken from x-request-id and returned), name, type, status, duration and error codes', async () => {
    const response = await gw.post(
      { query: 'query Named($id: ID!) { organization(id: $id) { name } }', variables: { id: organizationId }, operationName: 'Named' },
      { token: orgToken, headers: { 'x-request-id': 'req-0001' } },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('req-0001');
    const line = lines().filter((l) => l.requestId === 'req-0001');
    expect(line).toHaveLength(1);
    expect(line[0]).toMatchObject({
      level: 'info',
      msg: 'graphql operation',
      operationName: 'Named',
      operationType: 'query',
      transport: 'http',
      status: 200,
    });
    expect(line[0]?.durationMs).toBeTypeOf('number');
    expect(line[0]?.errorCodes).toBeUndefined();
    expect(new Date(line[0]!.time).toISOString()).toBe(line[0]!.time);
  });

  it('generates a request id when none (or an unusable one) is sent, and logs error codes', async () => {
    const missing = await gw.post({
      query: 'mutation { updateUserStatus(input: { userId: "00000000-0000-7000-8000-000000000000", status: ACTIVE }) { user { id } } }',
    });
    const id = missing.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines().find((l) => l.requestId === id)).toMatchObject({ operationType: 'mutation', errorCodes: ['NOT_FOUND'] });

    const injected = await gw.post({ query: '{ catalogs { code } }' }, { headers: { 'x-request-id': 'x'.repeat(300) } });
    expect(injected.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs each operation of a batch, and requests refused before any operation', async () => {
    const batch = await gw.post([{ query: '{ catalogs { code } }' }, { query: 'query Second { catalog(code: "innoacd") { code } }' }], {
      headers: { 'x-request-id': 'req-batch' },
    });
    expect(batch.status).toBe(200);
    const batchLines = lines().filter((l) => l.requestId === 'req-batch');
    expect(batchLines.map((l) => l.operationName ?? null).sort()).toEqual(['Second', null].sort());
    expect(batchLines.every((l) => l.batch === 2)).toBe(true);

    const broken = await gw.post('{"query": ', { headers: { 'x-request-id': 'req-broken' } });
    expect(broken.status).toBe(400);
    expect(lines().find((l) => l.requestId === 'req-broken')).toMatchObject({
      msg: 'graphql request refused',
      status: 400,
      errorCodes: ['BAD_REQUEST'],
    });
  });

  it('logs graphql-ws operations too', async () => {
    const result = await wsRun(gw.ws(`Bearer ${orgToken}`), 'query OverWs { catalogs { code } }');
    expect(result.data?.catalogs).toHaveLength(4);
    expect(lines().find((l) => l.operationName === 'OverWs')).toMatchObject({
      transport: 'ws',
      operationType: 'query',
      msg: 'graphql operation',
    });
  });

  it('never logs a token, the Authorization header, variables or the query text', async () => {
    await gw.post({ query: '{ catalogs { code } }' }, { token: 'lgw_ThisIsASecretLookingGuess0123456789' });
    await gw.post(
      {
        query: 'mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }',
        variables: { input: { organizationId, key: 'LK1.secret-key-material.payload.signature' } },
      },
      { token: orgToken },
    );
    const text = output.join('');
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [OPERATOR_TOKEN, orgToken, 'lgw_ThisIsASecretLookingGuess0123456789', 'secret-key-material', 'Bearer']) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/authorization/i);
    expect(text).not.toContain('catalogs { code }');
    expect(text).not.toContain('"variables"');
  });

  it('serves /metrics in the Prometheus text format: requests, errors by code, latency histogram, and the seat instruments', async () => {
    const response = await fetch(`${gw.base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^gateway_http_requests_total\{method="POST",status="200"\} \d+$/m);
    expect(text).toMatch(/^gateway_http_requests_total\{method="POST",status="400"\} \d+$/m);
    expect(text).toMatch(/^gateway_graphql_operations_total\{type="query",transport="http"\} \d+$/m);
    expect(text).toMatch(/^gateway_graphql_operations_total\{type="query",transport="ws"\} \d+$/m);
    expect(text).toMatch(/^gateway_graphql_errors_total\{code="NOT_FOUND"\} \d+$/m);
    expect(text).toMatch(/^gateway_graphql_errors_total\{code="BAD_REQUEST"\} \d+$/m);
    expect(text).toMatch(/^gateway_graphql_operation_duration_seconds_bucket\{le="0.1",type="mutation",transport="http"\} \d+$/m);
    expect(text).toMatch(/^gateway_websocket_connections \d+$/m);
    // No seat pools in use here: the gauge has no samples rather than invented ones.
    expect(text).toContain('# TYPE seats_in_use gauge');
    expect(text).not.toMatch(/^seats_in_use\{/m);
    expect(text).toContain('# TYPE subscribers gauge');
    expect(text).toContain('# TYPE sessions_expired_total counter');
  });

  it('reads seats_in_use from the seat pools at each scrape (a value set by hand does not survive); sessions_expired_total counts', async () => {
    metrics.seatsInUse.set({ product: 'AGENT' }, 7);
    metrics.sessionsExpired.inc(2);
    const text = await (await fetch(`${gw.base}/metrics`)).text();
    expect(text).not.toContain('seats_in_use{product="AGENT"} 7');
    expect(text).toMatch(/^sessions_expired_total 2$/m);
  });

  it('counts licence allocations by source (cache, stored row, computed) and dropped live notices', async () => {
    const mapping = 'query($id: ID!) { organization(id: $id) { licenseMapping { available } } }';
    for (let i = 0; i < 2; i++) expect((await gw.gql(mapping, { id: organizationId })).errors).toBeUndefined();
    const text = await (await fetch(`${gw.base}/metrics`)).text();
    const count = (source: string) =>
      Number(text.match(new RegExp(`^gateway_allocation_reads_total\\{source="${source}"\\} (\\d+)$`, 'm'))?.[1]);
    expect(count('cache') + count('stored') + count('computed')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^gateway_live_notices_dropped_total 0$/m);
  });

  it('guards /metrics with METRICS_TOKEN when one is set', async () => {
    const guarded = await listen('pglite', { metricsToken: 'metrics-token-0123456789' });
    try {
      expect((await fetch(`${guarded.base}/metrics`)).status).toBe(401);
      expect((await fetch(`${guarded.base}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const ok = await fetch(`${guarded.base}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('gateway_http_requests_total');
    } finally {
      await guarded.close();
    }
  });
});
