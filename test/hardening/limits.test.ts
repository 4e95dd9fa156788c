import { connect } from 'node:net';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_LIMITS } from '../../src/security/limits.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { codeOf, listen, wsRun, type ListeningApp } from '../support/listen.ts';

/** `{ catalogs { products { includes { includes … { code } } } } }` with `depth` levels of fields. */
function nested(depth: number): string {
  let inner = 'code';
  for (let level = 3; level < depth; level++) inner = `includes { ${inner} }`;
  return `{ catalogs { products { ${inner} } } }`;
}

function aliases(count: number): string {
  return `{ ${Array.from({ length: count }, (_, i) => `a${i}: catalogs { code }`).join(' ')} }`;
}

function expectLimit(
  body: { errors?: readonly { message: string; extensions?: Record<string, unknown> }[] } | null,
  message: RegExp,
): void {
  expect(body?.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', rule: 'R-SEC-3' } });
  expect(body?.errors?.[0]?.message).toMatch(message);
}

describe('[R-SEC-3] operation limits', () => {
  let gw: ListeningApp;
  // The cost limit is out of the way here (nested(7) costs about 94,000); it has its own test below and in cost.test.ts.
  const LIMITS = { maxDepth: 6, maxAliases: 5, maxTokens: 300, maxCost: 1_000_000, maxDirectives: 4, maxBatch: 3, maxBodyBytes: 20_000 };

  beforeAll(async () => {
    gw = await listen('pglite', { limits: LIMITS });
  });
  afterAll(() => gw.close());

  it('[R-SEC-3] depth: GRAPHQL_MAX_DEPTH levels pass, one more is refused with BAD_USER_INPUT naming R-SEC-3 (HTTP 400)', async () => {
    const ok = await gw.gql(nested(6));
    expect(ok.errors).toBeUndefined();
    const refused = await gw.gql(nested(7));
    expectLimit(refused, /depth limit of 6 exceeded, found 7/);
    expect(refused.status).toBe(400);
    expect(refused.data).toBeUndefined();
  });

  it('[R-SEC-3] aliases: GRAPHQL_MAX_ALIASES pass, one more is refused', async () => {
    expect((await gw.gql(aliases(5))).errors).toBeUndefined();
    expectLimit(await gw.gql(aliases(6)), /Aliases limit of 5 exceeded, found 6/);
  });

  it('[R-SEC-3] tokens: a document over GRAPHQL_MAX_TOKENS is refused while parsing', async () => {
    const refused = await gw.gql(`{ catalogs { ${Array.from({ length: 400 }, () => 'code').join(' ')} } }`);
    expectLimit(refused, /Token limit of 300 exceeded/);
    expect(refused.status).toBe(400);
  });

  it('[R-SEC-3] cost: an operation over GRAPHQL_MAX_COST (default) is refused', async () => {
    // Within the depth, alias and token limits, but costly: lists multiply their selection (see src/security/cost.ts).
    const gw = await listen('pglite');
    try {
      // Scalars of catalog objects cost nothing of their own (VALUE_TYPES); each object of a list still costs 1.
      const part = 'catalogs { products { includes { requirements { anyOf { code name kind unit } } } } }';
      expect((await gw.gql(`{ a: ${part} b: ${part} }`)).errors).toBeUndefined();
      const refused = await gw.gql(`{ a: ${part} b: ${part} c: ${part} d: ${part} e: ${part} }`);
      expectLimit(refused, /^operation cost 63625, over the limit of 50000 \(GRAPHQL_MAX_COST\)/);
      expect(refused.status).toBe(400);
    } finally {
      await gw.close();
    }
  });

  it('[R-SEC-3] directives: more than GRAPHQL_MAX_DIRECTIVES are refused', async () => {
    expect((await gw.gql('{ catalogs @include(if: true) { code @include(if: true) } }')).errors).toBeUndefined();
    expectLimit(await gw.gql(`{ catalogs { code ${'@include(if: true) '.repeat(5)} } }`), /Directives limit of 4 exceeded, found 5/);
  });

  it('[R-SEC-3] batching: up to GRAPHQL_MAX_BATCH operations in one request, more are refused with 413', async () => {
    const three = await gw.post([
      { query: '{ catalogs { code } }' },
      { query: '{ a: catalogs { code } }' },
      { query: '{ catalog(code: "innoacd") { code } }' },
    ]);
    expect(three.status).toBe(200);
    expect(Array.isArray(three.json)).toBe(true);
    expect(three.json).toHaveLength(3);

    const four = await gw.post(Array.from({ length: 4 }, () => ({ query: '{ catalogs { code } }' })));
    expect(four.status).toBe(413);
    expect(four.json?.errors?.[0]).toMatchObject({
      message: 'Batching is limited to 3 operations per request.',
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('[R-SEC-3] every operation of a batch is checked on its own', async () => {
    const batch = await gw.post([{ query: '{ catalogs { code } }' }, { query: nested(7) }]);
    const [first, second] = batch.json as unknown as [{ data?: unknown }, { errors?: { extensions?: Record<string, unknown> }[] }];
    expect(first.data).toBeDefined();
    expect(second.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'R-SEC-3' });
  });

  it('[R-SEC-3] body size: a Content-Length over MAX_REQUEST_BODY_BYTES gets 413 before the body is read', async () => {
    // Announce a big body, send none of it: the answer comes anyway.
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1', () => {
        socket.write(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`);
      });
      let data = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        data += chunk;
        if (data.includes('REQUEST_ENTITY_TOO_LARGE')) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.once('error', reject);
      socket.once('close', () => resolve(data));
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"code":"REQUEST_ENTITY_TOO_LARGE"');
  });

  it('[R-SEC-3] body size: a streamed (chunked) body over the limit is cut off with 413 too', async () => {
    const body = JSON.stringify({ query: '{ catalogs { code } }', variables: { padding: 'x'.repeat(30_000) } });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    });
    const response = await fetch(`${gw.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'REQUEST_ENTITY_TOO_LARGE' } }] });
  });

  it('[R-SEC-3] the limits hold over graphql-ws, as errors of the operation; the connection stays usable', async () => {
    const client = gw.ws();
    const deep = await wsRun(client, nested(7));
    expect(codeOf(deep)).toBe('BAD_USER_INPUT');
    const tokens = await wsRun(client, `{ catalogs { ${Array.from({ length: 400 }, () => 'code').join(' ')} } }`);
    expect(codeOf(tokens)).toBe('BAD_USER_INPUT');
    const broken = await wsRun(client, '{ catalogs { code ');
    expect(codeOf(broken)).toBe('GRAPHQL_PARSE_FAILED');
    const fine = await wsRun(client, '{ catalogs { code } }');
    expect(fine.data?.catalogs).toHaveLength(4);
  });

  it('[R-SEC-3] a WebSocket message over MAX_REQUEST_BODY_BYTES closes that socket with 1009', async () => {
    const socket = new WebSocket(`${gw.base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(
      JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${OPERATOR_TOKEN}`, padding: 'x'.repeat(30_000) } }),
    );
    expect(await closed).toBe(1009);
  });
});

describe('[R-SEC-3] introspection switch', () => {
  let closed: ListeningApp;
  let open: ListeningApp;

  beforeAll(async () => {
    closed = await listen('pglite', { limits: { introspection: false } });
    open = await listen('pglite');
  });
  afterAll(async () => {
    await closed.close();
    await open.close();
  });

  it('[R-SEC-3] GRAPHQL_INTROSPECTION=false refuses __schema and __type, over HTTP and graphql-ws', async () => {
    for (const query of [getIntrospectionQuery(), '{ __type(name: "Query") { name } }', '{ __schema { queryType { name } } }']) {
      const result = await closed.gql(query);
      expect(result.status).toBe(400);
      expect(result.errors?.[0]?.message).toMatch(/introspection/i);
      expect(result.data).toBeUndefined();
      const overWs = await wsRun(closed.ws(), query);
      expect(overWs.errors?.[0]?.message).toMatch(/introspection/i);
    }
    // __typename is not introspection of the schema.
    expect((await closed.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it('[R-SEC-3] with introspection off, errors give no "Did you mean" suggestions (fields, arguments, enum values)', async () => {
    const field = await closed.gql('{ catalogz { code } }');
    expect(field.errors?.[0]?.message).toMatch(/Cannot query field "catalogz"/);
    const enumValue = await closed.gql(
      'mutation($s: UserStatus!) { updateUserStatus(input: { userId: "x", status: $s }) { user { id } } }',
      { s: 'ACTIV' },
    );
    expect(enumValue.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const literal = await closed.gql('mutation { updateUserStatus(input: { userId: "x", status: ACTIV }) { user { id } } }');
    for (const result of [field, enumValue, literal]) {
      expect(JSON.stringify(result.errors)).not.toMatch(/Did you mean|catalogs|ACTIVE|INACTIVE/);
    }
  });

  it('[R-SEC-3] by default introspection works (GraphiQL) and suggestions help', async () => {
    const schema = await open.gql(getIntrospectionQuery());
    expect(schema.errors).toBeUndefined();
    expect(schema.data?.__schema.queryType.name).toBe('Query');
    const field = await open.gql('{ catalogz { code } }');
    expect(field.errors?.[0]?.message).toMatch(/Did you mean "catalog" or "catalogs"\?/);
  });
});

describe('[R-SEC-3] limit configuration', () => {
  it('reads every limit from its environment variable, with the documented defaults', () => {
    const env = { OPERATOR_TOKEN: OPERATOR_TOKEN };
    expect(loadConfig(env).limits).toEqual(DEFAULT_LIMITS);
    expect(DEFAULT_LIMITS).toEqual({
      maxDepth: 12,
      maxAliases: 30,
      maxTokens: 2000,
      maxCost: 50_000,
      maxDirectives: 50,
      maxBatch: 10,
      maxBodyBytes: 1_048_576,
      introspection: true,
      maxResponseBytes: 8_388_608,
      expensiveCost: 2_000,
      expensiveConcurrency: 3,
      expensiveWaitMs: 1_000,
    });
    const custom = loadConfig({
      ...env,
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_ALIASES: '3',
      GRAPHQL_MAX_TOKENS: '500',
      GRAPHQL_MAX_COST: '900',
      GRAPHQL_MAX_DIRECTIVES: '2',
      GRAPHQL_MAX_BATCH: '0',
      MAX_REQUEST_BODY_BYTES: '65536',
      GRAPHQL_INTROSPECTION: 'false',
    });
    expect(custom.limits).toMatchObject({
      maxDepth: 8,
      maxAliases: 3,
      maxTokens: 500,
      maxCost: 900,
      maxDirectives: 2,
      maxBatch: 0,
      maxBodyBytes: 65536,
      introspection: false,
    });
    expect(() => loadConfig({ ...env, MAX_REQUEST_BODY_BYTES: '12kb' })).toThrow(/^MAX_REQUEST_BODY_BYTES: must be a whole number/);
    expect(() => loadConfig({ ...env, GRAPHQL_MAX_BATCH: '5000' })).toThrow(/^GRAPHQL_MAX_BATCH: must be between 0 and 1000/);
  });

  it('[R-SEC-3] GRAPHQL_MAX_BATCH=0 refuses batched requests (400)', async () => {
    const gw = await listen('pglite', { limits: { maxBatch: 0 } });
    try {
      const batch = await gw.post([{ query: '{ catalogs { code } }' }]);
      expect(batch.status).toBe(400);
      expect(batch.json?.errors?.[0]).toMatchObject({ message: 'Batching is not supported.', extensions: { code: 'BAD_REQUEST' } });
    } finally {
      await gw.close();
    }
  });
});
