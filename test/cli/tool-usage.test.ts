import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

function git(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd: ROOT }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }),
    );
  });
}

/** `--help` of the maintenance tools explains and changes nothing: no migration run, no schema.graphql written. */
describe('tool usage', { timeout: 90_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tool-usage-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('npm run migrate -- --help prints its usage and touches no database', async () => {
    const dataDir = join(dir, 'never-created');
    const result = await run('src/cli/migrate.ts', ['--help'], { DATABASE_URL: '', DATA_DIR: dataDir });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: npm run migrate/i);
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
  });

  it('npm run migrate refuses an unknown option with exit code 2', async () => {
    const result = await run('src/cli/migrate.ts', ['--frobnicate'], { DATABASE_URL: '', DATA_DIR: join(dir, 'never-either') });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--frobnicate/);
  });

  it('npm run print-schema -- --help prints its usage and leaves schema.graphql alone', async () => {
    const file = join(ROOT, 'schema.graphql');
    const before = await readFile(file, 'utf8');
    await writeFile(file, `${before}# marker\n`);
    try {
      const result = await run('src/cli/print-schema.ts', ['--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/usage: npm run print-schema/i);
      expect(await readFile(file, 'utf8')).toBe(`${before}# marker\n`);
    } finally {
      await writeFile(file, before);
    }
  });

  it('npm run keys -- keypair --out DIR --help prints its usage and writes no key pair', async () => {
    const out = join(dir, 'keys-never-written');
    const result = await run('src/cli/keys.ts', ['keypair', '--out', out, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage: npm run keys/i);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('npm run migrate -- status --help and -- down --help change nothing', async () => {
    const dataDir = join(dir, 'never-created-either');
    for (const command of ['status', 'down']) {
      const result = await run('src/cli/migrate.ts', [command, '--help'], { DATABASE_URL: '', DATA_DIR: dataDir });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/usage: npm run migrate/i);
    }
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
  });

  it('licence signing keys written by npm run keys under .keys/ are ignored by git', async () => {
    const result = await git(['check-ignore', '-q', '.keys/private.pem']);
    expect(result.code).toBe(0);
  });
});
