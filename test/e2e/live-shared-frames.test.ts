import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FANOUT_BATCH } from '../../src/live/hub.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * The seat usage snapshots of the hub go out as one serialized payload for
 * every subscriber of the same operation, in a frame built around it
 * (server/ws-frames.ts). Each subscriber must still get exactly the message
 * graphql-ws would have written for it: its own subscription id, the result
 * of its own selection and variables, its own organization's data, as the
 * canonical JSON.stringify of { id, type, payload }. The expected payload of
 * each frame is what the same selection answers over HTTP, with the same
 * token, in the same state (the test clock stands still, so `at` agrees).
 */

const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted } }`;

/** Selections of `SeatUsage`, each with the variables it declares besides $id. */
const FULL = `{ organizationId at pools { product { code } capacity inUse emergencyCapacity emergencyInUse overageInUse maxPossible peakToday deniedToday } }`;
const NARROW = `{ organizationId pools { product { code } inUse capacity @include(if: $caps) } }`;

interface Shape {
  selection: string;
  variables: string;
  values: Record<string, unknown>;
}
const SHAPES = {
  full: { selection: FULL, variables: '', values: {} },
  narrowWithCaps: { selection: NARROW, variables: ', $caps: Boolean!', values: { caps: true } },
  narrowWithoutCaps: { selection: NARROW, variables: ', $caps: Boolean!', values: { caps: false } },
} satisfies Record<string, Shape>;

const subscription = (shape: Shape) => `subscription($id: ID!${shape.variables}) { seatUsage(organizationId: $id) ${shape.selection} }`;
const query = (shape: Shape) => `query($id: ID!${shape.variables}) { organization(id: $id) { seatUsage ${shape.selection} } }`;

interface Frame {
  raw: string;
  message: { id?: string; type: string; payload?: { data?: { seatUsage?: { pools: { inUse: number }[] } } } };
}

/** A real graphql-ws client whose socket keeps every text frame it receives, as received. */
function recordingClient(url: string, token: string, id: string) {
  const frames: Frame[] = [];
  const Recording = class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('message', (data) => {
        const raw = String(data);
        frames.push({ raw, message: JSON.parse(raw) as Frame['message'] });
      });
    }
  };
  const client: Client = createClient({
    url,
    webSocketImpl: Recording,
    retryAttempts: 0,
    lazy: true,
    generateID: () => id,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  return { client, frames, nexts: () => frames.filter((f) => f.message.type === 'next') };
}

const waitFor = async (test: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

for (const kind of DATABASES) {
  describe(`shared seatUsage frames on ${kind}`, () => {
    let gw: TestGateway;
    let ws: string;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      ws = `ws://127.0.0.1:${(await listenOn(gw)).port}/graphql`;
    });
    afterAll(() => gw.close());

    async function innoOrg(seats: number) {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: seats }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const ids = await createUsers(gw, org, 2, { configurationGroupId: group });
      return { org, ids };
    }

    it('[R-PERF-3] [R-LIVE-1] each subscriber gets exactly its own next message: id, selection, variables, role, organization', async () => {
      const a = await innoOrg(5);
      const b = await innoOrg(3);
      type Role = keyof OrgFixture['tokens'];
      const plan: { name: string; org: OrgFixture; role: Role; shape: Shape }[] = [
        // Two of the same operation: one shared payload, two ids.
        { name: 'a-supervisor-1', org: a.org, role: 'SUPERVISOR', shape: SHAPES.full },
        { name: 'a-supervisor-2', org: a.org, role: 'SUPERVISOR', shape: SHAPES.full },
        { name: 'a-admin', org: a.org, role: 'ADMIN', shape: SHAPES.full },
        { name: 'a-integrator-caps', org: a.org, role: 'INTEGRATOR', shape: SHAPES.narrowWithCaps },
        { name: 'a-integrator-nocaps', org: a.org, role: 'INTEGRATOR', shape: SHAPES.narrowWithoutCaps },
        // Another organization, the same operation text as the first two.
        { name: 'b-supervisor', org: b.org, role: 'SUPERVISOR', shape: SHAPES.full },
      ];
      const subs = plan.map((p) => {
        const rec = recordingClient(ws, p.org.tokens[p.role], p.name);
        const dispose = rec.client.subscribe(
          { query: subscription(p.shape), variables: { id: p.org.organizationId, ...p.shape.values } },
          { next: () => undefined, error: () => undefined, complete: () => undefined },
        );
        return { ...p, ...rec, dispose };
      });
      const inUse = (f: Frame) => f.message.payload?.data?.seatUsage?.pools[0]?.inUse;
      await waitFor(() => subs.every((s) => s.nexts().length >= 1), 'the first snapshots');

      /** Every next frame so far is the canonical message of this subscriber's id and what HTTP answers now for its selection. */
      const check = async (s: (typeof subs)[number], frames: Frame[]) => {
        const expected = await gw.ok<{ organization: { seatUsage: unknown } }>(
          query(s.shape),
          { id: s.org.organizationId, ...s.shape.values },
          s.org.tokens[s.role],
        );
        const payload = { data: { seatUsage: expected.organization.seatUsage } };
        for (const frame of frames) expect(frame.raw).toBe(JSON.stringify({ id: s.name, type: 'next', payload }));
      };

      // The first snapshots (read per subscriber) in the same canonical form.
      for (const s of subs) await check(s, s.nexts());

      // A change in organization A: its five subscribers get the new state.
      await gw.ok(START, { input: { userId: a.ids[0] } }, a.org.tokens.AGENT_CLIENT);
      const ofA = subs.filter((s) => s.org === a.org);
      const [ofB] = subs.filter((s) => s.org === b.org);
      await waitFor(() => ofA.every((s) => s.nexts().some((f) => inUse(f) === 1)), 'the change in A');
      for (const s of ofA)
        await check(
          s,
          s.nexts().filter((f) => inUse(f) === 1),
        );

      // A change in organization B: its subscriber gets B's state.
      await gw.ok(START, { input: { userId: b.ids[0] } }, b.org.tokens.AGENT_CLIENT);
      await waitFor(() => ofB!.nexts().some((f) => inUse(f) === 1), 'the change in B');
      await check(
        ofB!,
        ofB!.nexts().filter((f) => inUse(f) === 1),
      );
      // A's own last snapshot is read after its change, never B's: every frame A got names A.
      await gw.ok(START, { input: { userId: a.ids[1] } }, a.org.tokens.AGENT_CLIENT);
      await waitFor(() => ofA.every((s) => s.nexts().some((f) => inUse(f) === 2)), 'the second change in A');
      for (const s of ofA)
        await check(
          s,
          s.nexts().filter((f) => inUse(f) === 2),
        );

      for (const s of subs) {
        for (const frame of s.nexts()) {
          expect(frame.message.id).toBe(s.name);
          expect(JSON.parse(frame.raw).payload.data.seatUsage.organizationId).toBe(s.org.organizationId);
        }
        // The two narrow shapes differ only by the variable: capacity is there exactly when asked for.
        if (s.shape === SHAPES.narrowWithoutCaps) for (const f of s.nexts()) expect(f.raw).not.toContain('"capacity"');
        if (s.shape === SHAPES.narrowWithCaps) for (const f of s.nexts()) expect(f.raw).toContain('"capacity"');
      }

      for (const s of subs) {
        s.dispose();
        await s.client.dispose();
      }
    });

    it(`[R-PERF-3] [R-LIVE-1] beyond one batch (${FANOUT_BATCH}), the frames written directly are the same bytes, in order, and stop at complete`, async () => {
      const { org, ids } = await innoOrg(5);
      const frameCounts = async () => {
        const { values } = await gw.app.metrics.sharedFrames.get();
        const count = (path: string) => values.find((v) => v.labels.path === path)?.value ?? 0;
        return { iterator: count('iterator'), direct: count('direct') };
      };
      const subscribers = async () => (await gw.app.metrics.subscribers.get()).values[0]?.value ?? 0;
      const n = FANOUT_BATCH + 44;
      const subs = Array.from({ length: n }, (_, i) => {
        const rec = recordingClient(ws, org.tokens.SUPERVISOR, `s-${i}`);
        const dispose = rec.client.subscribe(
          { query: subscription(SHAPES.full), variables: { id: org.organizationId } },
          { next: () => undefined, error: () => undefined, complete: () => undefined },
        );
        return { name: `s-${i}`, ...rec, dispose };
      });
      const inUse = (f: Frame) => f.message.payload?.data?.seatUsage?.pools[0]?.inUse;
      const expectedFrame = async (id: string) => {
        const expected = await gw.ok<{ organization: { seatUsage: unknown } }>(
          query(SHAPES.full),
          { id: org.organizationId },
          org.tokens.SUPERVISOR,
        );
        return JSON.stringify({ id, type: 'next', payload: { data: { seatUsage: expected.organization.seatUsage } } });
      };
      await waitFor(() => subs.every((s) => s.nexts().length >= 1), 'the first snapshots');

      const before = await frameCounts();
      await gw.ok(START, { input: { userId: ids[0] } }, org.tokens.AGENT_CLIENT);
      await waitFor(() => subs.every((s) => s.nexts().some((f) => inUse(f) === 1)), 'the change, at every subscriber');
      const after = await frameCounts();
      // One frame per subscriber; those past the first batch went out directly.
      expect(after.iterator + after.direct - before.iterator - before.direct).toBe(n);
      expect(after.direct - before.direct).toBeGreaterThanOrEqual(n - FANOUT_BATCH);
      const one = await expectedFrame('ID');
      for (const s of subs) {
        const frames = s.nexts().filter((f) => inUse(f) === 1);
        expect(frames).toHaveLength(1);
        expect(frames[0]!.raw).toBe(one.replace('"ID"', JSON.stringify(s.name)));
      }

      // Half of them complete; the next change reaches the other half only, once each, and the state is exact.
      const [gone, staying] = [subs.filter((_, i) => i % 2 === 0), subs.filter((_, i) => i % 2 === 1)];
      for (const s of gone) s.dispose();
      // Released once their completes arrived (the live subscribers gauge).
      await expect.poll(subscribers, { timeout: 10_000 }).toBeLessThanOrEqual(staying.length);
      await gw.ok(START, { input: { userId: ids[1] } }, org.tokens.AGENT_CLIENT);
      await waitFor(() => staying.every((s) => s.nexts().some((f) => inUse(f) === 2)), 'the second change');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const two = await expectedFrame('ID');
      for (const s of staying) {
        expect(s.nexts().map(inUse)).toEqual([0, 1, 2]);
        expect(s.nexts()[2]!.raw).toBe(two.replace('"ID"', JSON.stringify(s.name)));
      }
      for (const s of gone) expect(s.nexts().map(inUse)).toEqual([0, 1]);

      for (const s of subs) {
        s.dispose();
        await s.client.dispose();
      }
    });
  });
}
