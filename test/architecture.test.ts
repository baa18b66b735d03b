import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// docs/architecture.md's package table against the packages themselves.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Row {
  readonly name: string;
  /** The run-time dependencies the table names (the text before any `;`, notes in parentheses dropped). */
  readonly dependsOn: string[];
}

function tableRows(): Row[] {
  const text = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const cells = /^\| `(@msghub\/[a-z-]+)` \|[^|]*\| ([^|]*) \|$/.exec(line);
    if (cells === null) continue;
    const named = (cells[2] as string).split(';')[0] as string;
    const dependsOn = named
      .replace(/\([^)]*\)/g, '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    rows.push({ name: cells[1] as string, dependsOn });
  }
  return rows;
}

function packageJson(name: string): { dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(join(root, 'packages', name.replace('@msghub/', ''), 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
}

describe('docs/architecture.md', () => {
  const rows = tableRows();

  it('lists every package, in the order tsconfig.json builds them', () => {
    const references = (JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { references: { path: string }[] }).references;
    expect(rows.map((row) => row.name)).to.deep.equal(references.map((ref) => ref.path.replace('packages/', '@msghub/')));
  });

  for (const row of tableRows()) {
    it(`names exactly the run-time dependencies of ${row.name}`, () => {
      const declared = Object.keys(packageJson(row.name).dependencies ?? {}).map((name) => name.replace('@msghub/', ''));
      expect([...row.dependsOn].sort()).to.deep.equal(declared.sort());
    });
  }

  it('holds that the built client imports no msghub package at run time', () => {
    const dist = join(root, 'packages', 'client', 'dist');
    const importers = readdirSync(dist)
      .filter((file) => file.endsWith('.js'))
      .filter((file) => /\bfrom\s*["']@msghub\//.test(readFileSync(join(dist, file), 'utf8')));
    expect(importers).to.deep.equal([]);
  });
});
