#!/usr/bin/env node
// Copies every example file into the docs that show it: the fenced block right after an
// `<!-- example: examples/x.ts -->` line in README.md or docs/*.md becomes the file's text.
// Edit the example, run it, then run this (test/examples.test.ts checks they agree).
// `--check` changes nothing and exits 1 when a doc is out of date.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const MARKER = /^<!-- example: (\S+) -->$/;

let stale = 0;
for (const doc of docs) {
  const before = readFileSync(join(root, doc), 'utf8');
  const lines = before.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    const marker = MARKER.exec(lines[i]);
    const fence = /^(```+)\S*\s*$/.exec(lines[i + 1] ?? '');
    if (marker === null) continue;
    if (fence === null) throw new Error(`${doc}:${i + 1}: no fenced block right after the example marker`);
    out.push(lines[++i]);
    while (i + 1 < lines.length && lines[i + 1] !== fence[1]) i++;
    const text = readFileSync(join(root, marker[1]), 'utf8');
    if (!text.endsWith('\n') || text.includes(`\n${fence[1]}\n`)) throw new Error(`${marker[1]}: must end with a newline and hold no ${fence[1]} line`);
    out.push(...text.slice(0, -1).split('\n'));
  }
  const after = out.join('\n');
  if (after === before) continue;
  stale++;
  if (check) console.error(`${doc}: out of date with its examples`);
  else {
    writeFileSync(join(root, doc), after);
    console.log(`updated ${doc}`);
  }
}
if (check && stale > 0) process.exit(1);
