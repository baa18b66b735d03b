import { readSync, stat } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A rotated file of a log: `<file>.<seq>`, where a higher `seq` is newer. */
export interface RotatedFile {
  readonly path: string;
  readonly seq: number;
}

const SEQ_DIGITS = 6;

/** The name a log file gets when it is rotated for the `seq`-th time. */
export function rotatedPath(file: string, seq: number): string {
  return `${file}.${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** The rotated files of `file`, oldest first. A missing folder has none. */
export async function listRotated(file: string): Promise<RotatedFile[]> {
  const base = basename(file);
  let names: string[];
  try {
    names = await readdir(dirname(file));
  } catch {
    return [];
  }
  const found: RotatedFile[] = [];
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const suffix = name.slice(base.length + 1);
    if (!/^\d+$/.test(suffix)) continue;
    found.push({ path: join(dirname(file), name), seq: Number(suffix) });
  }
  return found.sort((a, b) => a.seq - b.seq);
}

const NEWLINE = 0x0a;
const CHUNK = 64 * 1024;

/**
 * Where the complete lines of an open file end: `size` when the file is empty or ends in a
 * newline, otherwise the offset just after the last newline (0 when there is none).
 */
export function completeLength(fd: number, size: number): number {
  if (size === 0) return 0;
  const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size));
  let end = size;
  let first = true;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const read = readSync(fd, buffer, 0, end - start, start);
    if (read <= 0) return 0;
    if (first && buffer[read - 1] === NEWLINE) return size;
    first = false;
    const at = buffer.lastIndexOf(NEWLINE, read - 1);
    if (at >= 0 && at < read) return start + at + 1;
    end = start;
  }
  return 0;
}

/** The inode a path names now, or undefined when it names nothing. */
export function inodeOf(file: string): Promise<number | undefined> {
  return new Promise<number | undefined>((resolve) => {
    stat(file, (error, stats) => resolve(error === null ? stats.ino : undefined));
  });
}
