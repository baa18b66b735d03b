import { expect } from 'chai';
import { MemoryAdapter, cleanup, delay, startServer, type Running, type TestClient } from './helpers.js';

/** Publishes `count` messages from `publisher`, pacing on what `reader` receives. */
async function flood(publisher: TestClient, reader: TestClient, count: number, size = 200): Promise<void> {
  for (let i = 0; i < count; i++) {
    publisher.send({ type: 'publish', room: 'r', data: `${i}:${'x'.repeat(size)}` });
    if (i % 20 === 19) {
      await reader.waitFor((f) => f.type === 'event' && String((f['event'] as { message?: unknown }).message).startsWith(`${i}:`));
    }
  }
}

async function stalledMember(running: Running): Promise<ReturnType<MemoryAdapter['connect']>> {
  const adapter = new MemoryAdapter();
  await running.server.addAdapter(adapter);
  const socket = adapter.connect();
  socket.send({ type: 'hello', v: 1, user: 'slow' });
  socket.send({ type: 'join', ref: 1, room: 'r' });
  const deadline = Date.now() + 2000;
  while (!socket.frames().some((f) => f['type'] === 'ok')) {
    if (Date.now() > deadline) throw new Error(`the stalled member was never let into the room: ${JSON.stringify(socket.frames())}`);
    await delay(2);
  }
  socket.needsDrain = true;
  return socket;
}

async function readers(running: Running): Promise<[TestClient, TestClient]> {
  const publisher = await running.user('pub', 'tcp');
  const reader = await running.user('reader');
  for (const client of [publisher, reader]) {
    client.send({ type: 'join', ref: 'j', room: 'r' });
    await client.next('ok');
  }
  return [publisher, reader];
}

describe('slow consumers', () => {
  afterEach(cleanup);

  it('closes a connection whose queue passes the bound with SLOW_CONSUMER; the others go on', async () => {
    const running = await startServer({ maxQueuedFrames: 100, rateLimit: false });
    const slow = await stalledMember(running);
    const [publisher, reader] = await readers(running);
    await flood(publisher, reader, 300);
    expect(slow.ended).to.equal(true);
    const last = slow.frames().at(-1);
    expect(last).to.deep.equal({ type: 'bye', code: 'SLOW_CONSUMER', reason: 'Outgoing queue full' });
    expect(running.server.metrics().slowConsumerCloses).to.equal(1);
    const hub = running.server.rooms.get('r');
    expect(await hub?.isOnline('slow')).to.equal(false);
  });

  it('closes a connection whose socket takes no write for writeTimeoutMs with SLOW_CONSUMER', async () => {
    const running = await startServer({ writeTimeoutMs: 40, rateLimit: false });
    const slow = await stalledMember(running);
    const [publisher, reader] = await readers(running);
    await flood(publisher, reader, 20);
    const deadline = Date.now() + 2000;
    while (!slow.ended && Date.now() < deadline) await delay(5);
    expect(slow.frames().at(-1)).to.include({ type: 'bye', code: 'SLOW_CONSUMER' });
    expect(running.server.metrics().slowConsumerCloses).to.equal(1);
  });

  it('bounds the queue in bytes as well as frames', async () => {
    const running = await startServer({ maxQueuedBytes: 8 * 1024, rateLimit: false });
    const slow = await stalledMember(running);
    const [publisher, reader] = await readers(running);
    await flood(publisher, reader, 60);
    expect(slow.ended).to.equal(true);
  });

  it('with drop-oldest, discards old events and sends a gap instead, ids still increasing', async () => {
    const running = await startServer({ slowConsumerPolicy: 'drop-oldest', maxQueuedFrames: 100, rateLimit: false });
    const slow = await stalledMember(running);
    const [publisher, reader] = await readers(running);
    await flood(publisher, reader, 400);
    expect(slow.ended).to.equal(false);
    slow.drain();
    await delay(20);
    const frames = slow.frames();
    const gaps = frames.filter((f) => f['type'] === 'gap');
    expect(gaps.length).to.be.greaterThan(0);
    expect(gaps[0]).to.include({ room: 'r', reason: 'dropped' });
    let last = 0;
    for (const frame of frames) {
      if (frame['type'] === 'gap') {
        expect(frame['since']).to.equal(last);
        last = (frame['resumeAt'] as number) - 1;
      } else if (frame['type'] === 'event') {
        const id = (frame['event'] as { id: number }).id;
        expect(id).to.equal(last + 1);
        last = id;
      }
    }
    expect(last).to.equal(running.server.rooms.get('r')?.lastEventId);
    expect(running.server.metrics().droppedEvents).to.be.greaterThan(0);
  });

  it('holds frames while a real socket needs a drain and delivers them all once the reader resumes', async () => {
    const running = await startServer({ rateLimit: false, maxQueuedFrames: 10_000, maxQueuedBytes: 16 * 1024 * 1024 });
    const { default: WebSocket } = await import('ws');
    const paused = new WebSocket(running.wsUrl);
    const ids: number[] = [];
    paused.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; event?: { id: number; type: string } };
      if (frame.type === 'event' && frame.event?.type === 'message') ids.push(frame.event.id);
    });
    await new Promise<void>((resolve) => paused.once('open', () => resolve()));
    paused.send(JSON.stringify({ type: 'hello', v: 1, user: 'paused' }));
    paused.send(JSON.stringify({ type: 'join', ref: 1, room: 'r' }));
    const [publisher, reader] = await readers(running);
    paused.pause();
    await flood(publisher, reader, 1000, 4000);
    paused.resume();
    const deadline = Date.now() + 10_000;
    while (ids.length < 1000 && Date.now() < deadline) await delay(10);
    paused.terminate();
    expect(ids).to.have.length(1000);
    expect(ids.every((id, i) => i === 0 || id === (ids[i - 1] as number) + 1)).to.equal(true);
  });

  it('combines the frames owed to a socket into one write per turn', async () => {
    const running = await startServer({ rateLimit: false });
    const adapter = new MemoryAdapter();
    await running.server.addAdapter(adapter);
    const socket = adapter.connect();
    const writes: number[] = [];
    const write = socket.write.bind(socket);
    socket.write = (frames) => {
      writes.push(frames.length);
      write(frames);
    };
    socket.send({ type: 'hello', v: 1, user: 'ada' });
    socket.send({ type: 'join', room: 'r' });
    for (let i = 0; i < 50; i++) socket.send({ type: 'ping', ts: i });
    await delay(20);
    expect(writes.reduce((a, b) => a + b, 0)).to.be.at.least(52);
    expect(writes.length).to.be.at.most(3);
  });

  it('stops reading a publisher with too many publishes in flight and resumes after', async () => {
    const running = await startServer({ maxPendingPublishes: 2, hubOptions: { mailboxSize: 1 }, rateLimit: false });
    const ada = await running.user('ada', 'tcp');
    ada.send({ type: 'join', ref: 'j', room: 'r' });
    await ada.next('ok');
    for (let i = 0; i < 200; i++) ada.send({ type: 'publish', ref: i, room: 'r', data: i });
    for (let i = 0; i < 200; i++) expect(await ada.next('ok')).to.include({ ref: i });
  });
});
