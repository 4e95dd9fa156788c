import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { beforeAll, describe, expect, it } from 'vitest';

// The direction of every dependency in src/ (README "Architecture"), checked on the import graph itself:
// type-only imports count, since a type import is still a dependency a reader has to follow.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');

let graph: Record<string, string[]>;
let circles: string[][];

beforeAll(async () => {
  const result = await madge(SRC, { fileExtensions: ['ts'], tsConfig: join(ROOT, 'tsconfig.json') });
  graph = result.obj();
  circles = result.circular();
});

const importsOf = (prefix: string) =>
  Object.entries(graph)
    .filter(([file]) => file.startsWith(prefix))
    .flatMap(([file, deps]) => deps.map((dep) => ({ file, dep })));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/**
 * The layers of src/, lowest first (README "Architecture"): a file may import only from its own layer or a
 * lower one. The first layer whose test matches a file is its layer, in the order of LAYER_MATCH.
 */
const LAYERS = [
  'pure rules',
  'storage',
  'callers',
  'allocation',
  'app state',
  'context',
  'services',
  'GraphQL',
  'server',
  'entry points',
] as const;
type Layer = (typeof LAYERS)[number];
const APP_STATE = [
  'live/hub.ts',
  'live/channel.ts',
  'live/bounds.ts',
  'live/shared-execution.ts',
  'live/dashboard.ts',
  'schema/loaders.ts',
  'sessions/seat-usage.ts',
  'sessions/start-cache.ts',
  'sessions/denial-bound.ts',
  'tokens/token-cache.ts',
  'tokens/stream-registry.ts',
];
const LAYER_MATCH: [Layer, (file: string) => boolean][] = [
  ['entry points', (f) => f === 'main.ts' || f.startsWith('cli/')],
  ['server', (f) => f === 'app.ts' || f === 'config.ts' || f.startsWith('server/')],
  ['app state', (f) => APP_STATE.includes(f)],
  ['GraphQL', (f) => f.endsWith('.schema.ts') || /^(schema|security|observability)\//.test(f) || f === 'auth/reach-plugin.ts'],
  [
    'storage',
    (f) =>
      f.startsWith('db/') ||
      f.endsWith('.repository.ts') ||
      /^(events\/event|sessions\/session|sessions\/lock-order|webhooks\/tables|tenancy\/domain|licenses\/license-key)\.ts$/.test(f),
  ],
  [
    'pure rules',
    (f) => /^(licensing|keys|catalogs)\//.test(f) || ['clock.ts', 'ids.ts', 'errors.ts', 'slot.ts', 'auth/tokens.ts'].includes(f),
  ],
  ['callers', (f) => f.startsWith('auth/')],
  ['allocation', (f) => f.startsWith('allocation/')],
  ['context', (f) => f === 'context.ts'],
  ['services', (f) => f.endsWith('.service.ts') || /^(sessions|tenancy|tokens|assignments|licenses|events|live|webhooks)\//.test(f)],
];
const layerOf = (file: string): Layer | undefined => LAYER_MATCH.find(([, test]) => test(file))?.[0];

describe('architecture of src/', () => {
  it('has no import circle (type imports included)', () => {
    expect(circles.map((circle) => circle.join(' → '))).toEqual([]);
  });

  it('imports only downwards through the layers (pure rules → storage → … → entry points)', () => {
    const unplaced = Object.keys(graph).filter((file) => layerOf(file) === undefined);
    expect(unplaced).toEqual([]);
    const rank = (file: string) => LAYERS.indexOf(layerOf(file) as Layer);
    const upwards = importsOf('')
      .filter(({ file, dep }) => rank(dep) > rank(file))
      .map(({ file, dep }) => `${file} [${layerOf(file)}] → ${dep} [${layerOf(dep)}]`);
    expect(upwards).toEqual([]);
  });

  it('keeps licensing/ pure: it imports only licensing/, catalog types and the key payload', () => {
    const allowed = (dep: string) => dep.startsWith('licensing/') || dep === 'catalogs/types.ts' || dep === 'keys/payload.ts';
    expect(importsOf('licensing/').filter(({ dep }) => !allowed(dep))).toEqual([]);
  });

  it('keeps allocation/ below the services: it uses licensing/, db/ and repositories, never a service, schema or the context', () => {
    const forbidden = (dep: string) =>
      dep === 'context.ts' ||
      dep.startsWith('schema/') ||
      dep.startsWith('live/') ||
      dep.startsWith('assignments/') ||
      dep.startsWith('sessions/') ||
      /\.service\.ts$|\.schema\.ts$|tenancy\/access\.ts$/.test(dep);
    expect(Object.keys(graph).some((file) => file.startsWith('allocation/'))).toBe(true);
    expect(importsOf('allocation/').filter(({ dep }) => forbidden(dep))).toEqual([]);
  });

  it('keeps repositories free of GraphQL: no repository imports schema/, Pothos or graphql', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => file.endsWith('.repository.ts'))
      .filter((file) => /from '(graphql|@pothos\/[^']+|\.\.\/schema\/[^']+)'/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(offenders).toEqual([]);
  });

  it('keeps SQL out of GraphQL type files and schema/: no Kysely or sql`…` there', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => file.endsWith('.schema.ts') || relative(SRC, file).startsWith('schema/'))
      .filter((file) =>
        /from 'kysely'|\bsql`|\.selectFrom\(|\.insertInto\(|\.updateTable\(|\.deleteFrom\(/.test(readFileSync(file, 'utf8')),
      )
      .map((file) => relative(SRC, file));
    expect(offenders).toEqual([]);
  });

  it('holds no cache in a module: process state lives in objects the app builds', () => {
    // Module-level mutable state that is not a cache, with the reason it may stay.
    const allowed = new Map<string, string>([
      ['schema/index.ts', 'the built GraphQL schema, immutable once built'],
      ['catalogs/index.ts', 'the parsed catalog presets, immutable files'],
      ['ids.ts', 'the monotonic id generator of this process'],
      ['main.ts', 'the process entry point owns the process'],
      ['cli/', 'command-line entry points'],
    ]);
    const pattern = /^(?:export )?(?:let \w+|const \w+(?::[^=]+)? = new (?:Map|WeakMap|Set|WeakSet)\b)/m;
    const offenders = sourceFiles(SRC)
      .map((file) => relative(SRC, file))
      .filter((file) => ![...allowed.keys()].some((prefix) => file.startsWith(prefix)))
      .filter((file) =>
        readFileSync(join(SRC, file), 'utf8')
          .split('\n')
          .some((line) => pattern.test(line) && !/^const \w+ = new Set\(\[/.test(line)),
      );
    expect(offenders).toEqual([]);
  });
});
