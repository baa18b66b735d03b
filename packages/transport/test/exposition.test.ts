import { expect } from 'chai';
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { ExpositionError, parseExposition, valueOf } from './exposition.js';

// The strict parser the metrics tests read scrapes with: it must take what Prometheus takes and
// refuse what it refuses, or a scrape that "parses" proves nothing.

const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient;

describe('parseExposition (test helper)', () => {
  it('reads prom-client output: types, help, escaped label values, histograms', async () => {
    const registry = new prom.Registry();
    const registers = [registry];
    new prom.Counter({ name: 'x_total', help: 'A counter\nwith a line feed', labelNames: ['room'], registers }).inc({ room: 'a "quoted" \\ room\n' }, 3);
    new prom.Gauge({ name: 'y', help: 'A gauge', registers }).set(-1.5);
    const histogram = new prom.Histogram({ name: 'z_seconds', help: 'A histogram', buckets: [0.1, 1], labelNames: ['op'], registers });
    histogram.observe({ op: 'a' }, 0.05);
    histogram.observe({ op: 'a' }, 5);
    histogram.observe({ op: 'b' }, 0.5);
    const families = parseExposition(await registry.metrics());
    expect([...families.keys()]).to.deep.equal(['x_total', 'y', 'z_seconds']);
    expect(families.get('x_total')).to.include({ type: 'counter', help: 'A counter\nwith a line feed' });
    expect(valueOf(families, 'x_total', { room: 'a "quoted" \\ room\n' })).to.equal(3);
    expect(valueOf(families, 'y')).to.equal(-1.5);
    expect(valueOf(families, 'z_seconds_bucket', { op: 'a', le: '0.1' })).to.equal(1);
    expect(valueOf(families, 'z_seconds_bucket', { op: 'a', le: '+Inf' })).to.equal(2);
    expect(valueOf(families, 'z_seconds_count', { op: 'b' })).to.equal(1);
  });

  const refused: [string, string][] = [
    ['no final line feed', '# TYPE a gauge\na 1'],
    ['a bad metric name', '# TYPE 1a gauge\n1a 1\n'],
    ['a bad type', '# TYPE a meter\na 1\n'],
    ['a bad value', '# TYPE a gauge\na one\n'],
    ['a bad label name', '# TYPE a gauge\na{1x="v"} 1\n'],
    ['a reserved label name', '# TYPE a gauge\na{__x="v"} 1\n'],
    ['an unterminated label value', '# TYPE a gauge\na{x="v} 1\n'],
    ['a bad escape', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['a label twice', '# TYPE a gauge\na{x="1",x="2"} 1\n'],
    ['a duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['a second TYPE', '# TYPE a gauge\na 1\n# TYPE a gauge\n'],
    ['a family split in two', '# TYPE a gauge\na{x="1"} 1\n# TYPE b gauge\nb 1\na{x="2"} 1\n'],
    ['a negative counter', '# TYPE a_total counter\na_total -1\n'],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['a +Inf bucket that is not the count', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['trailing garbage', '# TYPE a gauge\na 1 2 3\n'],
  ];
  for (const [what, text] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => parseExposition(text)).to.throw(ExpositionError);
    });
  }
});
