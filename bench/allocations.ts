/*
 * What a gateway allocates, by place: V8's sampling heap profiler over the
 * inspector protocol, counting every sampled allocation, also those the
 * collector has since freed (most of a request's objects die young). The
 * gateway is started with `--inspect=127.0.0.1:<port>` (GatewayOptions.
 * inspectPort); `sampleAllocations` connects, samples while `work` runs,
 * and returns the profile. `summarizeAllocations` sums it per function and
 * per package or source file (bundle lines mapped back, see profile.ts).
 * Chrome DevTools opens the written `.heapprofile` (Memory tab).
 *
 * The totals are estimates: the profiler takes one sample per
 * `samplingInterval` bytes on average. Compare them within a run.
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { frameName, moduleOf } from './profile.ts';

interface AllocationNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocationNode[];
}

export interface AllocationProfile {
  head: AllocationNode;
}

/** One inspector session over the protocol's WebSocket: numbered calls, their answers. */
async function inspector(port: number): Promise<{ call(method: string, params?: object): Promise<any>; close(): void }> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const w = message.id === undefined ? undefined : waiting.get(message.id);
    if (!w) return;
    waiting.delete(message.id!);
    if (message.error) w.reject(new Error(message.error.message));
    else w.resolve(message.result);
  });
  // A gateway that exits (or a socket that breaks) fails the calls still waiting rather than leaving them hanging.
  ws.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error(`the inspector on port ${port} closed`));
    waiting.clear();
  });
  return {
    call(method, params = {}) {
      const id = ++next;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => ws.close(),
  };
}

/** Samples the allocations of the process inspected on `port` while `work` runs (one sample per `intervalBytes` on average). */
export async function sampleAllocations<T>(
  port: number,
  work: () => Promise<T>,
  intervalBytes = 4096,
): Promise<{ result: T; profile: AllocationProfile }> {
  const session = await inspector(port);
  try {
    await session.call('HeapProfiler.enable');
    await session.call('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const result = await work();
    const { profile } = (await session.call('HeapProfiler.stopSampling')) as { profile: AllocationProfile };
    return { result, profile };
  } finally {
    session.close();
  }
}

export interface AllocationSummary {
  file: string;
  /** Estimated bytes allocated while sampling. */
  totalBytes: number;
  /** Per unit of work (e.g. per start), when the caller says how many there were. */
  perUnitBytes: number | null;
  functions: { name: string; bytes: number; share: number }[];
  modules: { name: string; bytes: number; share: number }[];
}

/** Writes `profile` to `file` (.heapprofile) and sums it by the allocating function and its package or source file. */
export function summarizeAllocations(profile: AllocationProfile, file: string, units: number | null, top = 25): AllocationSummary {
  writeFileSync(file, JSON.stringify(profile));
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let total = 0;
  const stack: AllocationNode[] = [profile.head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    stack.push(...node.children);
    if (node.selfSize === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += node.selfSize;
    const name = frameName(functionName, url, lineNumber);
    fn.set(name, (fn.get(name) ?? 0) + node.selfSize);
    const m = moduleOf(url, functionName, lineNumber);
    mod.set(m, (mod.get(m) ?? 0) + node.selfSize);
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, bytes, share: total ? bytes / total : 0 }));
  return { file, totalBytes: total, perUnitBytes: units ? total / units : null, functions: list(fn), modules: list(mod) };
}

export function formatAllocations(s: AllocationSummary, rows = 20): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
  const kb = (b: number) => `${(b / 1024).toFixed(0).padStart(7)} KB`;
  const lines = [
    `allocations ${s.file}: ${(s.totalBytes / 2 ** 20).toFixed(1)} MB sampled${s.perUnitBytes === null ? '' : `, about ${(s.perUnitBytes / 1024).toFixed(0)} KB per start`}`,
    'top allocating functions (self):',
  ];
  for (const f of s.functions.slice(0, rows)) lines.push(`  ${pct(f.share)} ${kb(f.bytes)}  ${f.name}`);
  lines.push('by package/module:');
  for (const m of s.modules.slice(0, rows)) lines.push(`  ${pct(m.share)} ${kb(m.bytes)}  ${m.name}`);
  return lines.join('\n');
}
