import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { type OrgFixture, startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createTeam, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * [admin-import] npm run import-users: a CSV file into importUsers over HTTP,
 * one transaction; --help changes nothing.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/import-users.ts', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

for (const kind of DATABASES) {
  describe(`[admin-import] import-users CLI on ${kind}`, { timeout: 180_000 }, () => {
    let gw: TestGateway;
    let url: string;
    let org: OrgFixture;
    let dir: string;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      url = `${(await listenOn(gw)).base}/graphql`;
      org = await licensedOrg(gw, 'connect-storm', [{ product: 'BASE', quantity: 100 }]);
      await createGroup(gw, org, 'Agents', ['BASE']);
      await createTeam(gw, org, 'Blue');
      dir = await mkdtemp(join(tmpdir(), 'import-users-'));
    });
    afterAll(async () => {
      await gw?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const count = async () =>
      (await gw.ok(`query($id: ID!) { organization(id: $id) { users { totalCount } } }`, { id: org.organizationId })).organization.users
        .totalCount as number;

    it('[admin-import] --help prints the usage and sends nothing', async () => {
      const result = await run(['--help'], { GATEWAY_TOKEN: '' });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/usage: npm run import-users/i);
      expect(await count()).toBe(0);
      const bad = await run(['--frobnicate']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/frobnicate/);
    });

    it('[admin-import] a file with a refused row imports nothing and names the line; a good file imports every row', async () => {
      const bad = join(dir, 'bad.csv');
      await writeFile(
        bad,
        'name,email,site,group,team,role\n"Lovelace, Ada",ada@example.com,Headquarters,Agents,Blue,agent\nBob,bob@example.com,Mars,,,AGENT\n',
      );
      const refused = await run(['--file', bad, '--organization', org.organizationId, '--url', url], { GATEWAY_TOKEN: org.admin });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain('line 3: input.users[1].site');
      expect(refused.stdout).toContain('nothing imported');
      expect(await count()).toBe(0);

      const good = join(dir, 'good.csv');
      const lines = Array.from({ length: 50 }, (_, i) => `User ${i},u${i}@example.com,headquarters,Agents,,AGENT,ACTIVE`);
      await writeFile(good, `name,email,site,group,team,role,status\n${lines.join('\n')}\n`);
      const dry = await run(['--file', good, '--organization', org.organizationId, '--url', url, '--dry-run'], {
        GATEWAY_TOKEN: org.admin,
      });
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('dry run: 50 user(s) would be imported');
      expect(await count()).toBe(0);
      const done = await run(['--file', good, '--organization', org.organizationId, '--url', url], { GATEWAY_TOKEN: org.admin });
      expect(done.stdout).toContain('imported 50 user(s)');
      expect(done.code).toBe(0);
      expect(await count()).toBe(50);
      const forbidden = await run(['--file', good, '--organization', org.organizationId, '--url', url], {
        GATEWAY_TOKEN: org.tokens.SUPERVISOR,
      });
      expect(forbidden.code).toBe(1);
      expect(forbidden.stderr).toContain('Mutation.importUsers');
    });
  });
}
