/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on anything
 * the format does not allow (bad names, bad escapes, a sample before its TYPE, a family split in
 * two, a duplicate series, a histogram whose buckets are not cumulative or whose +Inf bucket is not
 * its count, a negative counter), so a scrape that parses is one Prometheus would take.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, ... for a histogram `x`). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly samples: Sample[];
}

export class ExpositionError extends Error {
  override readonly name = 'ExpositionError';
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count', ''],
};

/** Parses a whole scrape into its metric families, by name. */
export function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new ExpositionError('The exposition must end with a line feed');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const helps = new Map<string, string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const at = `line ${i + 1}`;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (meta === null) continue; // a comment
      const [, keyword, name, rest = ''] = meta as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new ExpositionError(`${at}: bad metric name ${JSON.stringify(name)}`);
      if (keyword === 'HELP') {
        if (helps.has(name)) throw new ExpositionError(`${at}: second HELP for ${name}`);
        helps.set(name, unescape(rest, false, at));
        continue;
      }
      if (!TYPES.has(rest.trim())) throw new ExpositionError(`${at}: bad type ${JSON.stringify(rest)}`);
      if (families.has(name)) throw new ExpositionError(`${at}: second TYPE for ${name}, or TYPE after its samples`);
      current = { name, type: rest.trim() as MetricType, help: helps.get(name), samples: [] };
      families.set(name, current);
      continue;
    }
    const sample = parseSample(line, at);
    const family = familyOf(sample.name, current);
    if (family === undefined) {
      const earlier = [...families.values()].find((f) => familyOf(sample.name, f) !== undefined);
      if (earlier !== undefined) throw new ExpositionError(`${at}: samples of ${earlier.name} are not together`);
      // A sample without TYPE is untyped, and its own family.
      current = { name: sample.name, type: 'untyped', help: helps.get(sample.name), samples: [] };
      families.set(sample.name, current);
    }
    const key = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (series.has(key)) throw new ExpositionError(`${at}: duplicate series ${key}`);
    series.add(key);
    (current as Family).samples.push(sample);
  }
  for (const family of families.values()) checkFamily(family);
  return families;
}

/** The family the sample belongs to: the current one when its name fits, else none. */
function familyOf(sample: string, current: Family | undefined): Family | undefined {
  if (current === undefined) return undefined;
  const suffixes = SUFFIXES[current.type] ?? [''];
  return suffixes.some((suffix) => sample === current.name + suffix) ? current : undefined;
}

function parseSample(line: string, at: string): Sample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (name === undefined) throw new ExpositionError(`${at}: no metric name in ${JSON.stringify(line)}`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
      if (labelName === undefined || !LABEL_NAME.test(labelName) || labelName.startsWith('__')) {
        throw new ExpositionError(`${at}: bad label name at column ${i + 1}`);
      }
      i += labelName.length;
      if (line[i] !== '=' || line[i + 1] !== '"') throw new ExpositionError(`${at}: expected =" after label ${labelName}`);
      i += 2;
      let raw = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\') {
          raw += line.slice(i, i + 2);
          i += 2;
        } else {
          raw += line[i];
          i++;
        }
      }
      if (line[i] !== '"') throw new ExpositionError(`${at}: unterminated value of label ${labelName}`);
      i++;
      if (labelName in labels) throw new ExpositionError(`${at}: label ${labelName} twice`);
      labels[labelName] = unescape(raw, true, at);
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new ExpositionError(`${at}: expected , or } at column ${i + 1}`);
    }
    i++;
  }
  const rest = line.slice(i);
  const fields = /^ +(\S+)(?: +(-?\d+))? *$/.exec(rest);
  if (fields === null) throw new ExpositionError(`${at}: expected " value [timestamp]", got ${JSON.stringify(rest)}`);
  return { name, labels, value: parseValue(fields[1] as string, at) };
}

/** A float as Prometheus reads one (Go's ParseFloat: `NaN`, `Inf`, `Infinity` in any case). */
function parseValue(text: string, at: string): number {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) {
    if ((special[2] as string).toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ExpositionError(`${at}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Resolves the escapes of a HELP text (`\\`, `\n`) or a label value (also `\"`). */
function unescape(text: string, quoted: boolean, at: string): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoted) return '"';
    throw new ExpositionError(`${at}: bad escape \\${c}`);
  });
}

function checkFamily(family: Family): void {
  if (family.type === 'counter') {
    for (const sample of family.samples) {
      if (!(sample.value >= 0)) throw new ExpositionError(`counter ${family.name} is ${sample.value}`);
    }
  }
  if (family.type !== 'histogram') return;
  // Group by labels without `le`; per group: buckets ascending, cumulative, +Inf = _count.
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new ExpositionError(`${family.name}: a bucket without le`);
      group.buckets.push([le === '+Inf' ? Infinity : parseValue(le, family.name), sample.value]);
    } else if (sample.name.endsWith('_count')) group.count = sample.value;
    else group.sum = sample.value;
  }
  for (const [key, { buckets, count, sum }] of groups) {
    const where = `${family.name}${key}`;
    if (count === undefined || sum === undefined) throw new ExpositionError(`${where}: no _count or _sum`);
    if (buckets.at(-1)?.[0] !== Infinity) throw new ExpositionError(`${where}: the last bucket is not +Inf`);
    for (let i = 1; i < buckets.length; i++) {
      const [le, n] = buckets[i] as [number, number];
      const [lePrevious, nPrevious] = buckets[i - 1] as [number, number];
      if (!(le > lePrevious)) throw new ExpositionError(`${where}: bucket bounds not increasing`);
      if (n < nPrevious) throw new ExpositionError(`${where}: buckets not cumulative`);
    }
    if (buckets.at(-1)?.[1] !== count) throw new ExpositionError(`${where}: +Inf bucket is not _count`);
  }
}

/** The value of one series; throws when the family or the series is missing. */
export function valueOf(families: Map<string, Family>, sample: string, labels: Record<string, string> = {}): number {
  const family = families.get(sample) ?? families.get(sample.replace(/_(bucket|sum|count)$/, ''));
  if (family === undefined) throw new Error(`no metric ${sample}`);
  const found = family.samples.find(
    (s) => s.name === sample && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found === undefined) throw new Error(`no series ${sample}${JSON.stringify(labels)} in ${JSON.stringify(family.samples)}`);
  return found.value;
}
