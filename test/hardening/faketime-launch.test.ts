import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureStopped, FAKETIME, listeningBase, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/*
 * A gateway started with a fake clock (LaunchOptions.faketime) is one
 * process, the one the test holds: stopping it, even with SIGKILL, leaves
 * nothing running. The faketime wrapper used to fork the gateway as its
 * child, so killing the wrapper left the gateway running on its own,
 * reconnecting to a database the test had dropped (seen: two such
 * processes after a CI run).
 */

/** The live processes whose environment holds `marker` (a zombie counts as gone), with their command lines. */
function processesWith(marker: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${entry}/stat`, 'latin1'))) continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) continue;
      found.push({ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').join(' ').trim() });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** The gateways among them: node running src/main.ts (tsx's esbuild service, a child that inherits the environment, is not one). */
const gateways = (marker: string) =>
  processesWith(marker)
    .filter((p) => p.command.includes('src/main.ts'))
    .map((p) => p.pid);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(!FAKETIME)('a gateway under a fake clock', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`is the process the test stops: after ${signal} nothing of it is left running`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'gw-faketime-'));
      cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      const marker = `GATEWAY_TEST_MARK=${randomUUID()}`;
      const [name, value] = marker.split('=') as [string, string];
      const gateway: GatewayProcess = spawnGateway({ DATA_DIR: join(dataDir, 'data'), [name]: value }, { faketime: '+800d' });
      cleanups.push(() => ensureStopped(gateway));
      await listeningBase(gateway);
      // The clock is the fake one: the log's timestamps are 800 days ahead.
      expect(Date.parse(String(gateway.lines[0]!.time)) - Date.now()).toBeGreaterThan(799 * 86_400_000);
      expect(gateways(marker)).toEqual([gateway.child.pid]);
      await gateway.stop(signal);
      // The exit is the gateway's own; what it started ends with it (within a few seconds: tsx's esbuild
      // service notices its closed stdin).
      const deadline = Date.now() + 10_000;
      while (processesWith(marker).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(processesWith(marker)).toEqual([]);
    });
  }
});
