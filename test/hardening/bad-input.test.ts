import { connect } from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, issueKey, parseTrustedKeys } from '../../src/keys/codec.ts';
import { orderToPayload } from '../../src/keys/order.ts';
import { DATABASES } from '../support/databases.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { leaksIn, listen, type Body, type ListeningApp } from '../support/listen.ts';

/** Codes a client may see for a refused request or operation; anything else (INTERNAL_SERVER_ERROR above all) is a bug. */
const REQUEST_CODES = [
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'REQUEST_ENTITY_TOO_LARGE',
];
const DOMAIN_CODES = ['BAD_USER_INPUT', 'NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED', 'INVALID_LICENSE_KEY', 'RATE_LIMITED'];

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/**
 * R-SEC-4 / R-API-1: a 4xx with a JSON body, or a GraphQL result whose every
 * error has a known extensions.code; never a 5xx, never a stack, a path, SQL or
 * a masked "Unexpected error.".
 */
function expectRefusedCleanly(answer: Answer, allowed: readonly string[] = [...REQUEST_CODES, ...DOMAIN_CODES]): Body {
  expect(answer.status, answer.text).toBeLessThan(500);
  expect(leaksIn(answer.text), answer.text).toEqual([]);
  expect(answer.contentType, answer.text).toMatch(/json/);
  const body = JSON.parse(answer.text) as Body | Body[];
  const results = Array.isArray(body) ? body : [body];
  if (answer.status < 400) {
    const errors = results.flatMap((r) => r.errors ?? []);
    expect(errors.length, answer.text).toBeGreaterThan(0);
  }
  for (const result of results) {
    for (const error of result.errors ?? []) {
      if (answer.status < 400) expect(error.extensions?.code, answer.text).toBeTypeOf('string');
      if (error.extensions?.code !== undefined) expect(allowed, answer.text).toContain(error.extensions.code);
    }
  }
  return results[0]!;
}

for (const kind of DATABASES) {
  describe(`[R-SEC-4] [R-API-1] bad input on ${kind}`, () => {
    let gw: ListeningApp;
    const vendor = generateKeyPair();
    let ids: {
      organizationId: string;
      siteId: string;
      userId: string;
      groupId: string;
      teamId: string;
      tokenId: string;
      admin: string;
      validKey: string;
    };
    let before: Record<string, number>;

    /** Rows of every table (migrations' own tables aside): what a refused request must leave as it was. */
    async function rowCounts(): Promise<Record<string, number>> {
      const tables = await sql<{
        table_name: string;
      }>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%' order by table_name`.execute(
        gw.database.db,
      );
      const counts: Record<string, number> = {};
      for (const { table_name } of tables.rows) {
        const row = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table_name)}`.execute(gw.database.db);
        counts[table_name] = row.rows[0]!.n;
      }
      return counts;
    }

    /** Any HTTP request to the gateway. */
    async function send(init: {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | null;
      token?: string | null;
    }): Promise<Answer> {
      const token = init.token === undefined ? ids.admin : init.token;
      const headers: Record<string, string> = {
        ...(init.body != null ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...init.headers,
      };
      const response = await fetch(`${gw.base}${init.path ?? '/graphql'}`, {
        method: init.method ?? 'POST',
        headers,
        body: init.body ?? null,
      });
      return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
    }
    const operation = (query: string, variables?: unknown, token?: string | null) =>
      send({ body: JSON.stringify({ query, variables }), token });

    /** Writes raw bytes on a fresh connection and returns the response (the server closes these connections). */
    function rawHttp(bytes: string): Promise<Answer> {
      return new Promise((resolve, reject) => {
        const socket = connect(gw.port, '127.0.0.1', () => socket.write(bytes));
        let data = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
        socket.once('error', reject);
        socket.once('close', () => {
          const [head = '', ...rest] = data.split('\r\n\r\n');
          resolve({
            status: Number(head.split(' ')[1]),
            contentType: /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '',
            text: rest.join('\r\n\r\n'),
          });
        });
      });
    }

    beforeAll(async () => {
      // Activation attempts are many here; the per-organization limit has its own test.
      gw = await listen(kind, { trustedKeys: parseTrustedKeys(vendor.publicKey), rateLimits: { activations: 10_000 } });
      const ok = async (query: string, variables: Record<string, unknown>, token: string = OPERATOR_TOKEN) => {
        const result = await gw.gql(query, variables, token);
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        return result.data!;
      };
      const org = await ok('mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }', {
        input: { name: 'Fixture', catalog: 'innoacd', customerRef: 'CUST-1' },
      });
      const organizationId = org.createOrganization.organization.id as string;
      const token = await ok('mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }', {
        input: { organizationId, role: 'ADMIN' },
      });
      const admin = token.createApiToken.token as string;
      const site = await ok(
        'mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }',
        { input: { organizationId, name: 'HQ' } },
        admin,
      );
      const siteId = site.createSite.site.id as string;
      const group = await ok(
        'mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }',
        { input: { siteId, name: 'Agents', functions: [] } },
        admin,
      );
      const team = await ok(
        'mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }',
        { input: { organizationId, name: 'Team' } },
        admin,
      );
      const user = await ok(
        'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }',
        { input: { siteId, name: 'Ada', role: 'AGENT' } },
        admin,
      );
      const validKey = issueKey(
        orderToPayload(
          { customerRef: 'CUST-1', catalog: 'innoacd', validFrom: '2026-11-01', entitlements: [{ product: 'ACD_AGENT', quantity: 5 }] },
          new Date('2026-11-22T10:00:00Z'),
        ),
        vendor.privateKeyPem,
      );
      ids = {
        organizationId,
        siteId,
        userId: user.createUser.user.id,
        groupId: group.createConfigurationGroup.configurationGroup.id,
        teamId: team.createTeam.team.id,
        tokenId: token.createApiToken.apiToken.id,
        admin,
        validKey,
      };
      before = await rowCounts();
    });
    afterAll(() => gw.close());

    describe('malformed HTTP requests get a 4xx JSON error', () => {
      const CATALOGS = JSON.stringify({ query: '{ catalogs { code } }' });
      it.each([
        ['broken JSON', '{"query": "{ catalogs { code } }"'],
        ['JSON null', 'null'],
        ['a JSON string', '"{ catalogs { code } }"'],
        ['a JSON number', '42'],
        ['an empty body', ''],
        ['query not a string', '{"query": 42}'],
        ['query an object', '{"query": {"kind": "Document"}}'],
        ['variables not an object', '{"query": "{ catalogs { code } }", "variables": "x"}'],
        ['operationName not a string', '{"query": "{ catalogs { code } }", "operationName": 5}'],
        ['extensions not an object', '{"query": "{ catalogs { code } }", "extensions": [1]}'],
        ['no query at all', '{"variables": {}}'],
        ['an empty batch', '[]'],
        ['a batch of garbage', '[1, null, "x"]'],
        ['a NUL byte in the JSON', '{"query": "{ catalogs { code } }\u0000"}'],
        [
          'a variable nested 100 000 deep',
          `{"query": "query($x: [[Int]]) { catalogs { code } }", "variables": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
        ],
        ['a batch entry that is null', `[{"query": "{ catalogs { code } }"}, null]`],
      ])('%s', async (_name, body) => {
        expectRefusedCleanly(await send({ body }));
      });

      it.each([
        ['text/plain', 'text/plain'],
        ['application/xml', 'application/xml'],
        ['multipart with a broken body', 'multipart/form-data; boundary=xyz'],
        ['form-urlencoded with a broken escape', 'application/x-www-form-urlencoded'],
      ])('wrong content type: %s', async (_name, contentType) => {
        const answer = await send({
          body: contentType.startsWith('application/x-www') ? 'query=%ZZ&variables=%7B' : CATALOGS,
          headers: { 'content-type': contentType },
        });
        expectRefusedCleanly(answer);
      });

      it('no content type at all', async () => {
        const answer = await rawHttp(
          `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${CATALOGS.length}\r\n\r\n${CATALOGS}`,
        );
        expect(answer.status).toBe(415);
        expectRefusedCleanly(answer);
      });

      it('a huge body (2 MB): 413', async () => {
        const answer = await send({ body: JSON.stringify({ query: '{ catalogs { code } }', variables: { x: 'y'.repeat(2_000_000) } }) });
        expect(answer.status).toBe(413);
        expectRefusedCleanly(answer);
      });

      it('a batch over the limit: 413', async () => {
        const answer = await send({ body: JSON.stringify(Array.from({ length: 11 }, () => ({ query: '{ catalogs { code } }' }))) });
        expect(answer.status).toBe(413);
        expectRefusedCleanly(answer);
      });

      it('a mutation over GET: 405', async () => {
        const query = encodeURIComponent(`mutation { createSite(input: { organizationId: "${'x'}", name: "y" }) { site { id } } }`);
        const answer = await send({ method: 'GET', path: `/graphql?query=${query}`, headers: { accept: 'application/json' } });
        expect(answer.status).toBe(405);
        expectRefusedCleanly(answer);
      });

      it('a broken percent-escape in a GET query string', async () => {
        expectRefusedCleanly(
          await send({ method: 'GET', path: '/graphql?query=%E0%A4%A&variables=%ZZ', headers: { accept: 'application/json' } }),
        );
      });

      it('a 20 KiB query string: 431 with JSON', async () => {
        const answer = await send({ method: 'GET', path: `/graphql?query=${'a'.repeat(20_000)}`, headers: { accept: 'application/json' } });
        expect(answer.status).toBe(431);
        expectRefusedCleanly(answer);
      });

      it('a request line that is not HTTP: 400 with JSON', async () => {
        const answer = await rawHttp('HELLO /graphql WORLD\r\n\r\n');
        expect(answer.status).toBe(400);
        expectRefusedCleanly(answer);
      });

      it('unknown methods', async () => {
        for (const method of ['PATCH', 'DELETE', 'PUT']) {
          const answer = await send({ method, body: CATALOGS });
          expect(answer.status, method).toBeGreaterThanOrEqual(400);
          expect(answer.status, method).toBeLessThan(500);
        }
      });
    });

    describe('refused GraphQL operations get a GraphQL error with extensions.code', () => {
      const UPDATE_STATUS = 'mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id } } }';
      const CREATE_SITE = 'mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }';
      const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
      const CREATE_ORG = 'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }';
      const CREATE_GROUP =
        'mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }';
      const CREATE_TEAM = 'mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }';
      const ACTIVATE = 'mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }';
      const USERS_PAGE =
        'query($id: ID!, $first: Int, $after: String) { organization(id: $id) { users(first: $first, after: $after) { totalCount } } }';
      const NIL = '00000000-0000-7000-8000-000000000000';

      function expectCode(answer: Answer, code: string): void {
        const result = expectRefusedCleanly(answer);
        expect(
          result.errors?.map((e) => e.extensions?.code),
          answer.text,
        ).toContain(code);
      }

      it('deep nesting, many aliases, many tokens, many directives: BAD_USER_INPUT (R-SEC-3)', async () => {
        let deep = 'code';
        for (let i = 0; i < 40; i++) deep = `includes { ${deep} }`;
        for (const query of [
          `{ catalogs { products { ${deep} } } }`,
          `{ ${Array.from({ length: 500 }, (_, i) => `a${i}: catalogs { code }`).join(' ')} }`,
          `{ catalogs { ${'code '.repeat(5000)} } }`,
          `{ catalogs { code ${'@include(if: true) '.repeat(60)} } }`,
          `{ ${'organization(id: "x") { '.repeat(3000)}${'}'.repeat(3000)} }`,
        ]) {
          expectCode(await operation(query), 'BAD_USER_INPUT');
        }
      });

      it('wrong variable types', async () => {
        expectCode(await operation(USERS_PAGE, { id: ids.organizationId, first: 'ten' }), 'BAD_USER_INPUT');
        expectCode(await operation(USERS_PAGE, { id: { $ne: null }, first: 1 }), 'BAD_USER_INPUT');
        expectCode(await operation(UPDATE_STATUS, { input: { userId: ids.userId, status: 'DELETED' } }), 'BAD_USER_INPUT');
        expectCode(await operation(UPDATE_STATUS, { input: { userId: ids.userId } }), 'BAD_USER_INPUT');
        expectCode(await operation(UPDATE_STATUS, { input: { userId: ids.userId, status: 'INACTIVE', admin: true } }), 'BAD_USER_INPUT');
        expectCode(
          await operation(UPDATE_STATUS, {
            input: [
              { userId: ids.userId, status: 'INACTIVE' },
              { userId: ids.userId, status: 'ACTIVE' },
            ],
          }),
          'BAD_USER_INPUT',
        );
        expectCode(await operation(CREATE_USER, { input: { siteId: ids.siteId, name: 'X', role: 'ROOT' } }), 'BAD_USER_INPUT');
        expectCode(
          await operation(CREATE_GROUP, { input: { siteId: ids.siteId, name: 'G', functions: { BASE: true } } }),
          'BAD_USER_INPUT',
        );
        expectCode(
          await operation('mutation { updateUserStatus(input: { userId: 5, status: "ACTIVE" }) { user { id } } }'),
          'GRAPHQL_VALIDATION_FAILED',
        );
      });

      it('unknown ids: NOT_FOUND', async () => {
        expectCode(await operation(UPDATE_STATUS, { input: { userId: NIL, status: 'INACTIVE' } }), 'NOT_FOUND');
        expectCode(await operation(UPDATE_STATUS, { input: { userId: 'not-an-id', status: 'INACTIVE' } }), 'NOT_FOUND');
        expectCode(await operation(CREATE_SITE, { input: { organizationId: NIL, name: 'S' } }), 'NOT_FOUND');
        expectCode(await operation(CREATE_USER, { input: { siteId: NIL, name: 'U', role: 'AGENT' } }), 'NOT_FOUND');
        // A reference inside an input names the field (BAD_USER_INPUT); the object acted on is NOT_FOUND.
        expectCode(
          await operation(CREATE_USER, { input: { siteId: ids.siteId, name: 'U', role: 'AGENT', configurationGroupId: NIL } }),
          'BAD_USER_INPUT',
        );
        expectCode(await operation(CREATE_GROUP, { input: { siteId: NIL, name: 'G', functions: [] } }), 'NOT_FOUND');
        expectCode(
          await operation(CREATE_TEAM, { input: { organizationId: ids.organizationId, name: 'T', leaderId: NIL } }),
          'BAD_USER_INPUT',
        );
        expectCode(await operation(CREATE_TEAM, { input: { organizationId: NIL, name: 'T' } }), 'NOT_FOUND');
        expectCode(
          await operation('mutation($id: ID!) { deleteUser(input: { userId: $id }) { deletedUserId } }', { id: NIL }),
          'NOT_FOUND',
        );
        expectCode(
          await operation('mutation($id: ID!) { revokeApiToken(input: { apiTokenId: $id }) { apiTokenId } }', { id: NIL }),
          'NOT_FOUND',
        );
        expectCode(await operation('query($id: ID!) { organization(id: $id) { name } }', { id: NIL }), 'NOT_FOUND');
      });

      it('negative and huge numbers', async () => {
        for (const first of [-1, 501, 1.5]) expectCode(await operation(USERS_PAGE, { id: ids.organizationId, first }), 'BAD_USER_INPUT');
        for (const first of ['2147483648', '1e400', '-2147483649']) {
          expectCode(
            await send({
              body: `{"query": ${JSON.stringify(USERS_PAGE)}, "variables": {"id": "${ids.organizationId}", "first": ${first}}}`,
            }),
            'BAD_USER_INPUT',
          );
        }
        expectCode(
          await operation(`{ organization(id: "${ids.organizationId}") { users(first: 2147483648) { totalCount } } }`),
          'GRAPHQL_VALIDATION_FAILED',
        );
        expectCode(await operation(`{ organization(id: "${ids.organizationId}") { users(first: -1) { totalCount } } }`), 'BAD_USER_INPUT');
      });

      it('empty strings', async () => {
        expectCode(await operation(CREATE_SITE, { input: { organizationId: ids.organizationId, name: '' } }), 'BAD_USER_INPUT');
        expectCode(await operation(CREATE_SITE, { input: { organizationId: ids.organizationId, name: '   \t ' } }), 'BAD_USER_INPUT');
        expectCode(await operation(CREATE_SITE, { input: { organizationId: '', name: 'S' } }), 'NOT_FOUND');
        expectCode(await operation(CREATE_ORG, { input: { name: 'O', catalog: '' } }, OPERATOR_TOKEN), 'BAD_USER_INPUT');
        expectCode(await operation(ACTIVATE, { input: { organizationId: ids.organizationId, key: '' } }), 'INVALID_LICENSE_KEY');
        expectCode(await operation(USERS_PAGE, { id: ids.organizationId, first: 1, after: '' }), 'BAD_USER_INPUT');
      });

      it('overlong names', async () => {
        expectCode(
          await operation(CREATE_SITE, { input: { organizationId: ids.organizationId, name: 'x'.repeat(201) } }),
          'BAD_USER_INPUT',
        );
        expectCode(
          await operation(CREATE_USER, { input: { siteId: ids.siteId, name: 'n'.repeat(500_000), role: 'AGENT' } }),
          'BAD_USER_INPUT',
        );
        expectCode(
          await operation(CREATE_USER, {
            input: { siteId: ids.siteId, name: 'Ok', role: 'AGENT', email: `${'e'.repeat(400)}@example.com` },
          }),
          'BAD_USER_INPUT',
        );
        expectCode(await operation(CREATE_ORG, { input: { name: 'O', catalog: 'c'.repeat(10_000) } }, OPERATOR_TOKEN), 'BAD_USER_INPUT');
      });

      it('unicode edge cases: NUL and control characters, lone surrogates, bidi and zero-width marks', async () => {
        for (const name of ['a\u0000b', '\u0000', 'line\nbreak', 'bell\u0007', 'esc\u001b[31m', 'a\ud800b', '\udfff']) {
          expectCode(await operation(CREATE_SITE, { input: { organizationId: ids.organizationId, name } }), 'BAD_USER_INPUT');
        }
        // NUL and unpaired surrogates are refused wherever they are, naming the variable path.
        for (const id of ['\ud800', '\udfff\ud800', '\u0000']) {
          const answer = await operation(CREATE_SITE, { input: { organizationId: id, name: 'S' } });
          expectCode(answer, 'BAD_USER_INPUT');
          expect(JSON.parse(answer.text).errors[0].extensions.field).toBe('input.organizationId');
        }
        expectCode(
          await operation(CREATE_USER, { input: { siteId: ids.siteId, name: 'U', role: 'AGENT', email: 'a\u0000@example.com' } }),
          'BAD_USER_INPUT',
        );
        expectCode(
          await operation(CREATE_GROUP, { input: { siteId: ids.siteId, name: 'G', functions: ['ACD_AGENT', 'X\ud83d'] } }),
          'BAD_USER_INPUT',
        );
        expectCode(
          await operation('mutation { createSite(input: { organizationId: "x", name: "lit\\u0000eral" }) { site { id } } }'),
          'BAD_USER_INPUT',
        );
        for (const id of [`\u202e${ids.organizationId}`, `${ids.organizationId}\u200b`, '\ufeff', '\u{1F600}']) {
          expectCode(await operation(CREATE_SITE, { input: { organizationId: id, name: 'S' } }), 'NOT_FOUND');
        }
        for (const key of [
          `${ids.validKey}\u200b`,
          `\u202e${ids.validKey}`,
          ids.validKey.replace('.', '\u2024'),
          ids.validKey.replace('A', '\u0391'),
        ]) {
          expectCode(await operation(ACTIVATE, { input: { organizationId: ids.organizationId, key } }), 'INVALID_LICENSE_KEY');
        }
        expectCode(
          await operation(ACTIVATE, { input: { organizationId: ids.organizationId, key: `${ids.validKey}\u0000` } }),
          'BAD_USER_INPUT',
        );
        // The same in raw JSON escapes, exactly as a hostile client would send them.
        expectCode(
          await send({
            body: `{"query": ${JSON.stringify(CREATE_SITE)}, "variables": {"input": {"organizationId": "\\ud800\\u0000", "name": "\\udc00"}}}`,
          }),
          'BAD_USER_INPUT',
        );
      });

      it('SQL-looking strings are data, never SQL', async () => {
        for (const id of [
          "' OR '1'='1",
          '1; DROP TABLE sites; --',
          "x' UNION SELECT token_hash FROM api_tokens --",
          '$$; select pg_sleep(10); $$',
        ]) {
          expectCode(await operation(CREATE_SITE, { input: { organizationId: id, name: 'S' } }), 'NOT_FOUND');
          expectCode(await operation('query($id: ID!) { user(id: $id) { name } }', { id }), 'NOT_FOUND');
          expectCode(await operation(USERS_PAGE, { id: ids.organizationId, first: 1, after: id }), 'BAD_USER_INPUT');
        }
        expectCode(await operation(CREATE_ORG, { input: { name: 'O', catalog: "innoacd' OR '1'='1" } }, OPERATOR_TOKEN), 'BAD_USER_INPUT');
        expectCode(
          await operation(CREATE_GROUP, { input: { siteId: ids.siteId, name: 'G', functions: ["BASE'); DROP TABLE users; --"] } }),
          'BAD_USER_INPUT',
        );
      });

      it('tampered licence keys: INVALID_LICENSE_KEY naming the check', async () => {
        const key = ids.validKey;
        const [prefix, kid, payload, signature] = key.split('.') as [string, string, string, string];
        const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
        const forged = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { entitlements: { quantity: number }[] };
        forged.entitlements[0]!.quantity = 100_000;
        const tampered = [
          [prefix, kid, payload, flip(signature, 10)].join('.'),
          [prefix, kid, flip(payload, 20), signature].join('.'),
          [prefix, kid, Buffer.from(JSON.stringify(forged)).toString('base64url'), signature].join('.'),
          [prefix, 'other-kid', payload, signature].join('.'),
          ['LK2', kid, payload, signature].join('.'),
          key.slice(0, -5),
          `${key}.extra`,
          key.replaceAll('.', '..'),
          key.toLowerCase(),
          `LK1.${'A'.repeat(200_000)}`,
          [prefix, kid, Buffer.from('{"not": "a payload"}').toString('base64url'), signature].join('.'),
          [prefix, kid, Buffer.from('null').toString('base64url'), signature].join('.'),
        ];
        for (const candidate of tampered) {
          const answer = await operation(ACTIVATE, { input: { organizationId: ids.organizationId, key: candidate } });
          const result = expectRefusedCleanly(answer);
          expect(result.errors?.[0]?.extensions?.code, candidate.slice(0, 80)).toBe('INVALID_LICENSE_KEY');
          expect(result.errors?.[0]?.extensions?.rule).toMatch(/^[A-Z_]+$/);
        }
      });

      it('bad tokens: UNAUTHENTICATED (401)', async () => {
        for (const token of ['x'.repeat(10_000), 'a b c', `lgw_${'\u00e9'.repeat(10)}`]) {
          const answer = await send({
            body: JSON.stringify({ query: '{ catalogs { code } }' }),
            token: null,
            headers: { authorization: `Bearer ${token}` },
          });
          expect(answer.status).toBe(401);
          expectCode(answer, 'UNAUTHENTICATED');
        }
      });
    });

    it('[R-API-2] none of it changed any data', async () => {
      expect(await rowCounts()).toEqual(before);
    });

    it('[R-SEC-4] the process is still up and serving', async () => {
      expect((await fetch(`${gw.base}/healthz`)).status).toBe(200);
      expect((await fetch(`${gw.base}/readyz`)).status).toBe(200);
      const result = await gw.gql(
        'query($id: ID!) { organization(id: $id) { name sites { name } } }',
        { id: ids.organizationId },
        ids.admin,
      );
      expect(result.data?.organization).toEqual({ name: 'Fixture', sites: [{ name: 'HQ' }] });
    });

    describe('[R-SEC-4] [R-API-1] property: arbitrary mutation inputs', () => {
      const KNOWN = ['BAD_USER_INPUT', 'NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED', 'INVALID_LICENSE_KEY', 'RATE_LIMITED'];
      const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

      /** Strings a hostile or sloppy client sends: any unicode, lone surrogates, control characters, SQL, long runs. */
      const text = fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary', maxLength: 50 }),
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.constantFrom(
          '',
          ' ',
          '\u0000',
          '\ud800',
          '\u202e',
          '\u200b',
          "' OR 1=1 --",
          'Robert"); DROP TABLE users;--',
          'x'.repeat(201),
          '\u{1F600}'.repeat(10),
          'Ünïcödé',
        ),
      );

      it('either succeed with a well-formed payload or fail with a known code; never a masked error or a leak', async () => {
        const id = () => fc.oneof(fc.uuid(), text, fc.constantFrom(ids.organizationId, ids.siteId, ids.userId, ids.groupId, ids.teamId));
        const orgId = fc.oneof({ weight: 3, arbitrary: fc.constant(ids.organizationId) }, { weight: 1, arbitrary: id() });
        const siteId = fc.oneof({ weight: 3, arbitrary: fc.constant(ids.siteId) }, { weight: 1, arbitrary: id() });
        const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
        const mutations = fc.oneof(
          fc.record({ field: fc.constant('createSite'), input: fc.record({ organizationId: orgId, name: text }) }),
          fc.record({
            field: fc.constant('createUser'),
            input: fc.record({
              siteId,
              name: text,
              role: fc.oneof(fc.constantFrom('AGENT', 'SUPERVISOR', 'UC_USER'), text),
              status: maybe(fc.constantFrom('ACTIVE', 'INACTIVE', 'PREPARING')),
              email: maybe(
                fc.oneof(
                  text,
                  fc.emailAddress(),
                  fc.tuple(text, text).map(([local, domain]) => `${local}@${domain}.example`),
                ),
              ),
              configurationGroupId: maybe(fc.oneof(fc.constant(ids.groupId), id())),
              teamId: maybe(fc.oneof(fc.constant(ids.teamId), id())),
            }),
          }),
          fc.record({
            field: fc.constant('createConfigurationGroup'),
            input: fc.record({
              siteId,
              name: text,
              functions: fc.array(fc.oneof(fc.constantFrom('ACD_AGENT', 'BASE', 'VOICE'), text), { maxLength: 5 }),
              options: maybe(fc.array(text, { maxLength: 3 })),
            }),
          }),
          fc.record({
            field: fc.constant('createTeam'),
            input: fc.record({ organizationId: orgId, name: text, leaderId: maybe(fc.oneof(fc.constant(ids.userId), id())) }),
          }),
          fc.record({
            field: fc.constant('activateLicenseKey'),
            input: fc.record({
              organizationId: orgId,
              key: fc.oneof(
                text,
                fc
                  .constant(ids.validKey)
                  .chain((k) => fc.nat({ max: k.length - 1 }).map((at) => k.slice(0, at) + (k[at] === 'A' ? 'B' : 'A') + k.slice(at + 1))),
              ),
            }),
          }),
        );
        const SELECTION: Record<string, string> = {
          createSite: 'site { id name }',
          createUser: 'user { id name status }',
          createConfigurationGroup: 'configurationGroup { id name }',
          createTeam: 'team { id name }',
          activateLicenseKey: 'license { state }',
        };
        const TABLE: Record<string, 'sites' | 'users' | 'configuration_groups' | 'teams'> = {
          createSite: 'sites',
          createUser: 'users',
          createConfigurationGroup: 'configuration_groups',
          createTeam: 'teams',
        };
        const TYPE: Record<string, string> = {
          createSite: 'CreateSiteInput',
          createUser: 'CreateUserInput',
          createConfigurationGroup: 'CreateConfigurationGroupInput',
          createTeam: 'CreateTeamInput',
          activateLicenseKey: 'ActivateLicenseKeyInput',
        };

        await fc.assert(
          fc.asyncProperty(mutations, fc.boolean(), async ({ field, input }, asOperator) => {
            const answer = await operation(
              `mutation($input: ${TYPE[field]}!) { ${field}(input: $input) { ${SELECTION[field]} } }`,
              { input },
              asOperator ? OPERATOR_TOKEN : ids.admin,
            );
            expect(answer.status).toBeLessThan(500);
            expect(leaksIn(answer.text), answer.text).toEqual([]);
            const body = JSON.parse(answer.text) as Body;
            if (body.errors?.length) {
              for (const error of body.errors) expect(KNOWN, answer.text).toContain(error.extensions?.code);
              return;
            }
            const payload = body.data?.[field] as Record<string, { id?: string; name?: string; state?: string }>;
            const node = Object.values(payload)[0]!;
            if (field === 'activateLicenseKey') {
              expect(node.state).toMatch(/^[A-Z_]+$/);
            } else {
              expect(node.id).toMatch(UUID);
              // What was acknowledged is what the input said (trimmed, NFC), and exactly that was stored.
              expect(node.name).toBe((input as { name: string }).name.normalize('NFC').trim());
              const stored = await gw.database.db
                .selectFrom(TABLE[field]!)
                .select('name')
                .where('id', '=', node.id!)
                .executeTakeFirstOrThrow();
              expect(stored.name).toBe(node.name);
            }
          }),
          { numRuns: 150 },
        );
        expect((await fetch(`${gw.base}/healthz`)).status).toBe(200);
      });
    });
  });
}
