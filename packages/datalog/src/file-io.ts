import { close, fdatasync, fsync, ftruncate, open, openSync, writev } from 'node:fs';
import { LogOpenError } from './errors.js';

/** Opens `file` for appending (and positioned reads), or throws a {@link LogOpenError}. */
export function openForAppend(file: string): number {
  try {
    return openSync(file, 'a+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new LogOpenError(`Cannot open log file ${file} for appending (${code})`, file, { cause: error });
  }
}

/** Writes every chunk, in order, with one system call when the kernel takes it all. */
export function writeChunks(fd: number, chunks: Buffer[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const step = (rest: Buffer[]): void => {
      writev(fd, rest, null, (error, written) => {
        if (error !== null) return reject(error);
        const left = dropBytes(rest, written);
        if (left.length === 0) resolve();
        else step(left);
      });
    };
    if (chunks.length === 0) resolve();
    else step(chunks);
  });
}

/** `chunks` without their first `bytes` bytes (after a short write). */
function dropBytes(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let i = 0;
  while (i < chunks.length && skip >= (chunks[i] as Buffer).length) skip -= (chunks[i++] as Buffer).length;
  if (i === chunks.length) return [];
  return [(chunks[i] as Buffer).subarray(skip), ...chunks.slice(i + 1)];
}

/** fsync(2): the file's data and metadata reach the disk. */
export function syncFd(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fsync(fd, (error) => (error === null ? resolve() : reject(error)));
  });
}

/** fdatasync(2): the file's data, and the size needed to read it back, reach the disk. */
export function syncData(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fdatasync(fd, (error) => (error === null ? resolve() : reject(error)));
  });
}

/** Cuts `fd` back to `size` bytes. Best effort: a device such as /dev/full cannot be truncated. */
export function truncateFd(fd: number, size: number): Promise<void> {
  return new Promise<void>((resolve) => {
    ftruncate(fd, size, () => resolve());
  });
}

export function closeFd(fd: number): Promise<void> {
  return new Promise<void>((resolve) => {
    close(fd, () => resolve());
  });
}

/** Makes a rename or a new file in `folder` durable. Best effort: some file systems refuse it. */
export function syncFolder(folder: string): Promise<void> {
  return new Promise<void>((resolve) => {
    open(folder, 'r', (error, fd) => {
      if (error !== null) return resolve();
      fsync(fd, () => close(fd, () => resolve()));
    });
  });
}
