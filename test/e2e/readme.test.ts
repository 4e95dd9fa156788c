/**
 * First contact: the README's quick start and the examples that follow it
 * work exactly as written, in that order, on a fresh gateway.
 *
 * The blocks are read from README.md: its shell lines run (the vendor CLI by
 * `npm run keys -- …` itself, the gateway with the line's own environment),
 * its GraphQL operations are sent with the headers and variables it shows,
 * and every `<Operation: path>` placeholder is filled from that operation's
 * earlier answer, as the README tells the reader to. Any error fails the
 * test, and so does a change of the README's blocks that this test does not
 * follow (the expected sequence is spelled out below).
 *
 * Everything runs in a scratch directory that looks like a checkout
 * (symbolic links to package.json, node_modules, src, migrations, docs), so
 * `./data` and `.keys` are the test's own. `npm ci` is not run (this checkout
 * is installed already) and `npm test` is not run (it is this suite);
 * `npm start` runs the sources (`node --import tsx src/main.ts`), as the other
 * process tests do; test/cli/build-start.test.ts covers the build it would run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { GRAPHIQL_TABS } from '../../src/server/graphiql-tabs.ts';
import { DATABASES, emptyPostgresDatabase } from '../support/databases.ts';
import { fencedBlocks, operationOf, readmeSection, readmeSteps, type ReadmeStep as Step } from '../support/readme.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OPERATOR_START = 'OPERATOR_TOKEN=dev-operator-token-change-me npm start';
const ISSUE = 'npm run keys -- issue --private-key .keys/private.pem --order docs/orders/connect-storm.json';

/** What the README must look like, block by block; change it together with the README. */
const EXPECTED = [
  `sh: npm ci && ${OPERATOR_START}`,
  'sh: npm test',
  'headers',
  'CreateOrganization',
  'CreateAdminToken',
  'sh: npm run keys -- keypair --out .keys',
  `sh: ${ISSUE}`,
  `sh: LICENSE_PUBLIC_KEYS=$(cat .keys/public.txt) ${OPERATOR_START}`,
  'headers',
  'ActivateLicenseKey',
  'CreateSite',
  'CreateAgentsGroup',
  'CreateUser',
  'Organization',
  'AssignAdministrator',
  'CreateSupervisorsGroup',
  'MoveUsersDryRun',
  'LicenseMapping',
  'UserLicenses',
  'StartSession',
  'Heartbeat',
  'EndSession',
  'SeatsAndUsage',
];

const summary = (step: Step): string => (step.kind === 'sh' ? `sh: ${step.line}` : step.kind === 'headers' ? 'headers' : step.name);

describe('README.md', () => {
  it('quick start and examples: the blocks this test runs, one named operation per block, variables next to it', () => {
    const steps = readmeSteps();
    expect(steps.map(summary)).toEqual(EXPECTED);
    for (const step of steps) {
      if (step.kind !== 'operation') continue;
      const declared = (operationOf(step.query).variableDefinitions ?? []).map((v) => v.variable.name.value).sort();
      const shown = step.variables === null ? [] : Object.keys(JSON.parse(step.variables) as object).sort();
      expect(shown, `variables shown next to ${step.name}`).toEqual(declared);
    }
    // GraphiQL opens with the quick start's operations, then the seat usage subscription of "Live utilization".
    const tabs: { query: string; variables: string | null; headers: string | null }[] = [];
    let headers: string | null = null;
    for (const step of steps.slice(0, steps.findIndex((s) => s.kind === 'operation' && s.name === 'Organization') + 1)) {
      if (step.kind === 'headers') headers = step.text;
      if (step.kind === 'operation') tabs.push({ query: step.query, variables: step.variables, headers });
    }
    const live = fencedBlocks(readmeSection('Live utilization'));
    expect(live.slice(0, 2).map((b) => b.lang)).toEqual(['graphql', 'json']);
    expect(operationOf(live[0]?.body ?? '').name?.value).toBe('SeatUsage');
    tabs.push({ query: live[0]?.body ?? '', variables: live[1]?.body ?? null, headers });
    expect(GRAPHIQL_TABS).toEqual(tabs);
    // The two command lines of the quick start stay two lines, and `npm test` is the suite.
    expect(fencedBlocks(readmeSection('Quick start'))[0]?.body.trim().split('\n')).toHaveLength(2);
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.test).toBe(
      'vitest run',
    );
  });
});

/** Fills `<Source: path>` placeholders: an earlier operation's answer (a path into its data) or a command's printed line. */
function fill(text: string, answers: Map<string, unknown>, printed: Map<string, string>): string {
  return text.replace(/<([^<>:]+): ([^<>]+)>/g, (whole, source: string, path: string) => {
    const command = [...printed.keys()].find((line) => line.startsWith(source));
    if (command !== undefined) return printed.get(command) ?? '';
    if (!answers.has(source)) throw new Error(`${whole}: no earlier answer of ${source}`);
    let value: unknown = answers.get(source);
    for (const key of path.split('.')) value = (value as Record<string, unknown> | null)?.[key];
    if (typeof value !== 'string') throw new Error(`${whole}: ${source}'s answer has no string at ${path}`);
    return value;
  });
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs a README line with bash in the scratch checkout; `npm start` at its end becomes the gateway from source. */
function startGateway(line: string, cwd: string, env: Record<string, string>): { gateway: Running; base: Promise<string> } {
  const command = line.replace(/npm start$/, 'exec node --import tsx src/main.ts');
  if (command === line) throw new Error(`not a gateway start: ${line}`);
  const child = spawn('bash', ['-c', command], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const base = new Promise<string>((resolve, reject) => {
    const onData = () => {
      const line = out.split('\n').find((l) => l.includes('"msg":"gateway listening"'));
      const port = line && /"graphql":"http:\/\/[^:/]+:(\d+)\//.exec(line)?.[1];
      if (port) resolve(`http://127.0.0.1:${port}`);
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`gateway (${line}) exited with ${code}:\n${out}`)));
  });
  return { gateway: { child, output: () => out, exited }, base };
}

/** Runs a README command line with bash in the scratch checkout and returns what it printed on stdout. */
function runCommand(line: string, cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${line} exited with ${code}:\n${out}${err}`))));
  });
}

/** The last line that npm printed after its own banner (`> licensing-gateway@… keys` …). */
function printedLine(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('> '));
  return lines.at(-1)?.trim() ?? '';
}

/** Checks of the answers beyond "no error": what the README says the operation does. */
function checkAnswer(name: string, data: Record<string, any>): void {
  switch (name) {
    case 'ActivateLicenseKey':
      // The example order's term must still be running: an expired example order breaks the README.
      expect(['ACTIVE', 'RENEWAL_DUE', 'GRACE'], 'docs/orders/connect-storm.json: its term has ended').toContain(
        data.activateLicenseKey.license.state,
      );
      break;
    case 'CreateUser':
      expect(data.createUser.user.status).toBe('ACTIVE');
      break;
    case 'Organization':
      expect(data.organization.users.totalCount).toBe(1);
      expect(data.organization.activeUsers).toBe(1);
      break;
    case 'StartSession':
      expect(data.startSession).toMatchObject({ granted: true, grantedChannels: ['VOICE'] });
      break;
    case 'EndSession':
      expect(data.endSession.session.endedAt).toEqual(expect.any(String));
      break;
  }
}

for (const kind of DATABASES) {
  describe(`README.md as written, on ${kind}`, { timeout: 300_000 }, () => {
    const scratch = mkdtempSync(join(tmpdir(), 'readme-'));
    const running: Running[] = [];
    let database: { url: string; dispose(): Promise<void> } | null = null;

    afterAll(async () => {
      for (const gateway of running) {
        if (gateway.child.exitCode === null && gateway.child.signalCode === null) {
          gateway.child.kill('SIGKILL');
          await gateway.exited;
        }
      }
      await database?.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('every shell line and operation of the quick start and the examples works, in order, on a fresh gateway', async () => {
      for (const entry of ['package.json', 'tsconfig.json', 'node_modules', 'src', 'migrations', 'docs']) {
        symlinkSync(join(ROOT, entry), join(scratch, entry));
      }
      // The README's gateway listens on 4000; here on a free port of loopback. PostgreSQL: the suite's own database.
      const env: Record<string, string> = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATABASE_URL: '' };
      if (kind === 'postgres') {
        database = await emptyPostgresDatabase();
        env.DATABASE_URL = database.url;
      }
      const answers = new Map<string, unknown>();
      const printed = new Map<string, string>();
      let headers: Record<string, string> = {};
      let gateway: Running | null = null;
      let base: string | null = null;

      for (const step of readmeSteps()) {
        if (step.kind === 'sh') {
          if (step.line === 'npm test') continue; // this suite
          if (step.line.endsWith('npm start')) {
            // "stop the gateway (Ctrl-C) and start it again": the first one ends cleanly before the next starts.
            if (gateway) {
              gateway.child.kill('SIGINT');
              expect(await gateway.exited).toBe(0);
            }
            const started = startGateway(step.line.replace(/^npm ci && /, ''), scratch, env);
            gateway = started.gateway;
            running.push(gateway);
            base = await started.base;
            continue;
          }
          expect(step.line).toMatch(/^npm run keys -- /);
          printed.set(step.line, printedLine(await runCommand(step.line, scratch, env)));
          continue;
        }
        if (step.kind === 'headers') {
          headers = JSON.parse(fill(step.text, answers, printed)) as Record<string, string>;
          continue;
        }
        if (base === null) throw new Error(`${step.name} comes before any gateway is started`);
        const variables = step.variables === null ? undefined : (JSON.parse(fill(step.variables, answers, printed)) as object);
        const response = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', accept: 'application/graphql-response+json' },
          body: JSON.stringify({ query: step.query, variables, operationName: step.name }),
        });
        const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
        expect(body.errors, `${step.name} answered errors`).toBeUndefined();
        expect(response.status, step.name).toBe(200);
        checkAnswer(step.name, body.data ?? {});
        answers.set(step.name, body.data);
      }
      // "Live utilization": the seat usage subscription, sent as GraphiQL sends it (token in the subscribe message).
      const [subscription, subscriptionVariables] = fencedBlocks(readmeSection('Live utilization'));
      const client = createClient({
        url: `${base?.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: () => ({}),
      });
      try {
        const events = client.iterate({
          query: subscription?.body ?? '',
          operationName: 'SeatUsage',
          variables: JSON.parse(fill(subscriptionVariables?.body ?? '{}', answers, printed)) as Record<string, unknown>,
          extensions: { headers },
        });
        const first = await events.next();
        expect(first.value?.errors, 'SeatUsage answered errors').toBeUndefined();
        const data = first.value?.data as { seatUsage: { pools: unknown[] } } | undefined;
        expect(data?.seatUsage.pools.length).toBeGreaterThan(0);
        await events.return?.();
      } finally {
        await client.dispose();
      }
      expect([...answers.keys()]).toEqual(EXPECTED.filter((s) => !s.startsWith('sh: ') && s !== 'headers'));
      expect(printed.get(ISSUE)).toMatch(/^LK1\.\S+$/);
    });
  });
}
