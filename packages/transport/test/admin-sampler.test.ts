import { expect } from 'chai';
import { AdminSampler, SERIES_LENGTH, quantile } from '../src/admin-sampler.js';
import type { Connection } from '../src/connection.js';
import { Counters } from '../src/metrics.js';
import { PrometheusMetrics, type HistogramReading } from '../src/prometheus.js';
import { RoomRegistry } from '../src/rooms.js';

/** Metrics over a room registry of their own, and a sampler on a clock the test moves. */
function sampled(): { rooms: RoomRegistry; counters: Counters; sampler: AdminSampler; clock: { now: number } } {
  const counters = new Counters();
  let rooms: RoomRegistry | undefined;
  const metrics = new PrometheusMetrics(
    { counters, connections: new Set<Connection>(), users: new Map(), rooms: () => rooms as RoomRegistry },
    { token: undefined, perRoom: 0, process: false },
  );
  rooms = new RoomRegistry({ onCommit: metrics.observeCommit, idleTimeoutMs: 0 });
  counters.publishObserver = metrics.observePublish;
  const clock = { now: 0 };
  const sampler = new AdminSampler(metrics, counters, (error) => { throw error; }, 3_600_000, () => clock.now);
  return { rooms, counters, sampler, clock };
}

function reading(counts: number[], sum = 0): HistogramReading {
  const bounds = [0.001, 0.01, 0.1, Infinity];
  return { count: counts.at(-1) ?? 0, sum, buckets: bounds.map((le, i) => [le, counts[i] ?? 0] as const) };
}

describe('AdminSampler', () => {
  describe('quantile', () => {
    it('interpolates within the bucket that holds the rank, over the observations between two readings', () => {
      const before = reading([10, 10, 10, 10]);
      // 100 new observations: 50 up to 1 ms, 50 between 1 and 10 ms.
      const after = reading([60, 110, 110, 110]);
      expect(quantile(0.5, before, after)).to.be.closeTo(0.001, 1e-12);
      expect(quantile(0.99, before, after)).to.be.closeTo(0.001 + 0.009 * (49 / 50), 1e-12);
      expect(quantile(0.25, before, after)).to.be.closeTo(0.0005, 1e-12);
    });

    it('answers the largest finite bound when the rank falls in +Inf, and 0 without observations', () => {
      expect(quantile(0.99, reading([0, 0, 0, 0]), reading([0, 0, 0, 5]))).to.equal(0.1);
      expect(quantile(0.99, reading([1, 1, 1, 1]), reading([1, 1, 1, 1]))).to.equal(0);
    });
  });

  describe('#sample', () => {
    it('turns the totals of each second into rates: events committed and delivered, bytes sent, per room', async () => {
      const { rooms, counters, sampler, clock } = sampled();
      await sampler.sample();
      const lobby = rooms.create('lobby');
      const quiet = rooms.create('quiet');
      for (let i = 0; i < 10; i++) await lobby.publish(`m${i}`, { from: 'ada' });
      await sampler.sample();
      clock.now += 2000;
      for (let i = 0; i < 6; i++) await lobby.publish(`n${i}`, { from: 'ada' });
      await quiet.publish('one', { from: 'grace' });
      counters.eventsOut += 40;
      counters.bytesOut += 4000;
      counters.publishObserver?.(0.002);
      await sampler.sample();
      const point = sampler.points.at(-1);
      expect(point).to.include({ committedPerSecond: 3.5, deliveredPerSecond: 20, sentBytesPerSecond: 2000, publishesPerSecond: 0.5 });
      expect(point?.publishMeanMs).to.be.closeTo(2, 1e-9);
      expect(sampler.roomRate('lobby')).to.equal(3);
      expect(sampler.roomRate('quiet')).to.equal(0.5);
      expect(sampler.roomRate('nowhere')).to.equal(0);
      sampler.stop();
      await rooms.closeAll();
    });

    it('keeps the last SERIES_LENGTH seconds', async () => {
      const { sampler, clock } = sampled();
      for (let i = 0; i <= SERIES_LENGTH + 5; i++) {
        clock.now += 1000;
        await sampler.sample();
      }
      expect(sampler.points).to.have.length(SERIES_LENGTH);
      expect(sampler.points.every((p) => p.publishMeanMs === null && p.committedPerSecond === 0)).to.equal(true);
      sampler.stop();
    });
  });
});
