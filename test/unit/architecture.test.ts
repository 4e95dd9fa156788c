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

describe('architecture of src/', () => {
  it('has no import circle (type imports included)', () => {
    expect(circles.map((circle) => circle.join(' → '))).toEqual([]);
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
