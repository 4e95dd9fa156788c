/*
 * Everything the bench starts (gateway and subscriber processes, PostgreSQL,
 * temp directories) registers its undo here; `cleanupAll` runs them newest
 * first, on normal exit, on failure and on SIGINT/SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

type Undo = { name: string; run: () => Promise<void> | void; sync?: () => void };
const undos: Undo[] = [];
let running: Promise<void> | null = null;

/** Registers an undo; the returned function unregisters it (after the caller undid it itself). */
export function onCleanup(name: string, run: () => Promise<void> | void, sync?: () => void): () => void {
  const undo: Undo = { name, run, ...(sync ? { sync } : {}) };
  undos.push(undo);
  return () => {
    const i = undos.indexOf(undo);
    if (i >= 0) undos.splice(i, 1);
  };
}

export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (undos.length > 0) {
      const undo = undos.pop()!;
      try {
        await undo.run();
      } catch (error) {
        console.error(`cleanup ${undo.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  })();
  return running;
}

/** Last resort on process exit: synchronous kills and removals only. */
process.on('exit', () => {
  for (const undo of undos.reverse()) {
    try {
      undo.sync?.();
    } catch {
      // nothing more can be done
    }
  }
});

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    console.error(`\nbench: ${signal}, cleaning up …`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

/** Registers a temp directory for removal. */
export function tempDir(dir: string): () => void {
  const rm = () => rmSync(dir, { recursive: true, force: true });
  return onCleanup(`rm ${dir}`, rm, rm);
}

/** Waits until the child exits (or `ms` pass); true when it exited. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Stops a child by its pid: `signal`, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (await waitExit(child, graceMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 5000);
}

/** Registers a child process to be stopped on cleanup. */
export function ownChild(name: string, child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): () => void {
  return onCleanup(
    `${name} (pid ${child.pid})`,
    () => stopChild(child, signal, 10_000),
    () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  );
}
