/**
 * Draws the benchmark charts embedded in docs/benchmarks.md, as SVG files in docs/charts/.
 *
 *   pnpm bench:charts            take the latest results (benchmarks/results/hub-fanout.json and
 *                                transport-scale.json), keep their figures in docs/charts/data.json,
 *                                and draw every chart from that file
 *   pnpm bench:charts --redraw   draw from docs/charts/data.json only (the committed figures)
 *
 * Charting library: Vega-Lite specs compiled to Vega and rendered by Vega's headless SVG renderer
 * (`view.toSVG()`), which runs in plain Node with no browser and no native module (node-canvas is
 * only needed for PNG). A spec is data, so each chart below is a short declarative object (log
 * scales, min-max bands and legends come from the grammar), and the output is deterministic
 * text that diffs sensibly in git. Chart.js or ECharts would need a canvas or a DOM shim to render
 * server-side.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { resultsDir } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chartsDir = join(root, 'docs', 'charts');
const dataFile = join(chartsDir, 'data.json');

/** One point of a curve: median over the rounds and the spread. */
interface Point {
  system: string;
  x: number;
  median: number;
  min: number;
  max: number;
}

interface Run {
  date: string;
  machine: string;
  rounds: number;
}

interface ChartData {
  hubFanout?: Run & { points: Point[] };
  broadcast?: Run & { pacedSeconds: Record<string, number>; throughput: Point[]; p99: Point[] };
  memory?: Run & { rss: Point[] };
}

interface Machine {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
}

const describeMachine = (m: Machine): string => `${m.cores} cores (${m.cpu.trim()}), ${m.memoryGiB} GiB, Node ${m.node.replace(/^v/, '')}`;

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

const FANOUT_SYSTEMS = new Set(['Node EventEmitter', 'bare RxJS Subject', 'msghub MessageHub', 'bare RxJS Subject, own process', 'hub (defaults), own process']);

/** hub-fanout.json: `results["<contender>|<S>"] = { median, rounds }`. */
function fromHubFanout(): ChartData['hubFanout'] {
  const file = readJson<{ machine: Machine; rounds: number; results: Record<string, { median: number; rounds: number[] }> }>(join(resultsDir, 'hub-fanout.json'));
  if (file === undefined) return undefined;
  const points = Object.entries(file.results).flatMap(([key, { median, rounds }]) => {
    const [system = key, s = '0'] = key.split('|');
    // The baselines and the default hub, in the bench's process and each in one of its own; the
    // guarantee rows are in the tables.
    return FANOUT_SYSTEMS.has(system) ? [{ system, x: Number(s), median, min: Math.min(...rounds), max: Math.max(...rounds) }] : [];
  });
  return { date: file.machine.date, machine: describeMachine(file.machine), rounds: file.rounds, points };
}

type Triple = [number, number, number] | undefined;
const SCALE_LABEL: Record<string, string> = { ws: 'raw ws', socketio: 'Socket.IO 4', msghub: 'msghub' };

interface ScaleFile {
  machine: Machine;
  rounds: number;
  memoryOnly?: boolean;
  pacedSeconds: Record<string, number>;
  summaries: { system: string; clients: number; rate?: Triple; p99?: Triple; rss?: Triple }[];
}

/** transport-scale.json: per system and size, `[median, min, max]` of each figure. */
function curves(file: ScaleFile): Record<'rate' | 'p99' | 'rss', Point[]> {
  const curve = (key: 'rate' | 'p99' | 'rss'): Point[] =>
    file.summaries.flatMap((s) => {
      const t = s[key];
      return t === undefined ? [] : [{ system: SCALE_LABEL[s.system] ?? s.system, x: s.clients, median: t[0], min: t[1], max: t[2] }];
    });
  return { rate: curve('rate'), p99: curve('p99'), rss: curve('rss') };
}

const runOf = (file: ScaleFile): Run => ({ date: file.machine.date, machine: describeMachine(file.machine), rounds: file.rounds });

/** Broadcast curves from transport-scale.json. */
function fromBroadcast(): ChartData['broadcast'] {
  const file = readJson<ScaleFile>(join(resultsDir, 'transport-scale.json'));
  if (file === undefined || file.memoryOnly === true) return undefined;
  const { rate, p99 } = curves(file);
  return { ...runOf(file), pacedSeconds: file.pacedSeconds, throughput: rate, p99 };
}

/** Memory per idle connection: from a --memory-only run if there is one, else from the broadcast run. */
function fromMemory(): ChartData['memory'] {
  const file = readJson<ScaleFile>(join(resultsDir, 'transport-scale-memory.json')) ?? readJson<ScaleFile>(join(resultsDir, 'transport-scale.json'));
  return file === undefined ? undefined : { ...runOf(file), rss: curves(file).rss };
}

const day = (iso: string): string => iso.slice(0, 10);
const COLORS: Record<string, string> = {
  'msghub MessageHub': '#d62728',
  'hub (defaults), own process': '#ff9896',
  'bare RxJS Subject, own process': '#aec7e8',
  msghub: '#d62728',
  'bare RxJS Subject': '#1f77b4',
  'raw ws': '#1f77b4',
  'Node EventEmitter': '#7f7f7f',
  'Socket.IO 4': '#7f7f7f',
};

/**
 * A line per system over a log-scaled x axis, with the min-max of the rounds as a band.
 * @param yLog a log y axis (latencies spanning decades)
 */
function lineChart(options: {
  title: string;
  subtitle: string;
  points: Point[];
  x: string;
  y: string;
  yLog?: boolean;
  yFormat?: string;
}): TopLevelSpec {
  const systems = [...new Set(options.points.map((p) => p.system))];
  const color = {
    field: 'system',
    type: 'nominal' as const,
    title: null,
    scale: { domain: systems, range: systems.map((s) => COLORS[s] ?? '#2ca02c') },
    legend: { orient: 'right' as const, labelLimit: 320 },
  };
  const xs = [...new Set(options.points.map((p) => p.x))].sort((a, b) => a - b);
  const x = { field: 'x', type: 'quantitative' as const, title: options.x, scale: { type: 'log' as const }, axis: { values: xs, format: '~s' } };
  // A negative spread (memory handed back to the system during a round) is clipped at zero.
  const yScale = options.yLog === true ? { type: 'log' as const } : { zero: true, domainMin: 0 };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 560,
    height: 300,
    background: 'white',
    title: { text: options.title, subtitle: [options.subtitle, ...notes(options.points)], anchor: 'start' },
    data: { values: options.points },
    config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: null } },
    layer: [
      {
        // The spread over the rounds: a band from the slowest to the fastest round.
        mark: { type: 'area', opacity: 0.15, clip: true },
        encoding: { x, y: { field: 'min', type: 'quantitative', scale: yScale }, y2: { field: 'max' }, color },
      },
      {
        mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'median', type: 'quantitative', title: options.y, scale: yScale, axis: { format: options.yFormat ?? '~s' } },
          color,
          tooltip: [{ field: 'system' }, { field: 'x' }, { field: 'median', format: '.3~s' }],
        },
      },
    ],
  };
}

/** What a reader must know that the lines do not show: missing points, clipped bands. */
function notes(points: readonly Point[]): string[] {
  const systems = [...new Set(points.map((p) => p.system))];
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const missing = systems.flatMap((system) =>
    xs.filter((x) => !points.some((p) => p.system === system && p.x === x)).map((x) => `${system} at ${x}`),
  );
  return [
    ...(missing.length > 0 ? [`No point where no round finished within its time bound: ${missing.join(', ')}.`] : []),
    ...(points.some((p) => p.min < 0) ? ['A band below zero (a round in which the server handed memory back) is clipped at zero.'] : []),
  ];
}

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}

async function main(): Promise<void> {
  mkdirSync(chartsDir, { recursive: true });
  const data: ChartData = readJson<ChartData>(dataFile) ?? {};
  if (!process.argv.includes('--redraw')) {
    const hub = fromHubFanout();
    const broadcast = fromBroadcast();
    const memory = fromMemory();
    if (hub !== undefined) data.hubFanout = hub;
    if (broadcast !== undefined) data.broadcast = broadcast;
    if (memory !== undefined) data.memory = memory;
    if (hub === undefined && broadcast === undefined && memory === undefined) {
      throw new Error(`No results in ${resultsDir}: run \`pnpm bench hub-fanout transport-scale\` first, or pass --redraw`);
    }
    writeFileSync(dataFile, `${JSON.stringify(data, null, 2)}\n`);
  }
  const charts: [string, TopLevelSpec][] = [];
  const { hubFanout, broadcast, memory } = data;
  if (hubFanout !== undefined) {
    const of = `${day(hubFanout.date)}, median of ${hubFanout.rounds} rounds (band: min to max), ${hubFanout.machine}`;
    charts.push(['hub-fanout.svg', lineChart({ title: 'In-process fan-out: delivered events/s vs subscribers', subtitle: of, points: hubFanout.points, x: 'subscribers S', y: 'delivered events/s' })]);
  }
  if (broadcast !== undefined) {
    const of = `${day(broadcast.date)}, median of ${broadcast.rounds} rounds (band: min to max), ${broadcast.machine}`;
    charts.push(
      ['broadcast-throughput.svg', lineChart({ title: 'WebSocket broadcast: deliveries/s vs clients', subtitle: of, points: broadcast.throughput, x: 'WebSocket clients (loopback)', y: 'deliveries/s' })],
      [
        'broadcast-p99.svg',
        lineChart({
          title: `WebSocket broadcast: p99 latency at 100 msg/s vs clients (lower is better)`,
          subtitle: of,
          points: broadcast.p99,
          x: 'WebSocket clients (loopback)',
          y: 'p99 latency (ms, log scale)',
          yLog: true,
          yFormat: '~g',
        }),
      ],
    );
  }
  if (memory !== undefined) {
    const of = `${day(memory.date)}, median of ${memory.rounds} rounds (band: min to max), ${memory.machine}`;
    charts.push(
      [
        'memory-per-connection.svg',
        lineChart({
          title: 'Server RSS per idle connection vs connections (lower is better)',
          subtitle: of,
          points: memory.rss,
          x: 'idle WebSocket connections',
          y: 'RSS per connection (KiB)',
          yFormat: '~g',
        }),
      ],
    );
  }
  for (const [name, spec] of charts) {
    writeFileSync(join(chartsDir, name), await toSvg(spec));
    console.log(`wrote docs/charts/${name}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
