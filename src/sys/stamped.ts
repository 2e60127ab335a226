// A small file read with its mode and its stamp: what identifies the version read (inode, size, change time, mode;
// any write, rename onto it or chmod changes it). The daemon reads through libc (file.ts: open, statx, read and
// close, no exception for a missing file and no Stats object) once it called useLibcReads(); everything else reads
// through Node's fs, so that a one-shot command does not load koffi for it.
import { readFileSync, statSync } from 'node:fs';
import { isErrno } from '../util/fs.js';

export interface StampedFile {
  text: string;
  mode: number;
  stamp: string;
}

export interface StampedReads {
  readFileWithMode(path: string): StampedFile | undefined;
  fileStamp(path: string): string | undefined;
}

/** stat(2) through Node: the stamp and the mode, or undefined when there is nothing to look at. */
function nodeStat(path: string): { stamp: string; mode: number } | undefined {
  try {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) return undefined;
    const mode = Number(st.mode);
    return { stamp: fileStampOf(Number(st.ino), Number(st.size), Number(st.ctimeNs / 1_000_000_000n), Number(st.ctimeNs % 1_000_000_000n), mode), mode };
  } catch (e) {
    if (isErrno(e, 'ENOTDIR', 'EACCES')) return undefined;
    throw e;
  }
}

const nodeReads: StampedReads = {
  readFileWithMode(path) {
    const st = nodeStat(path);
    if (st === undefined) return undefined;
    try {
      // the stamp taken before the read: a change in between makes it stale, and the next look reads again
      return { text: readFileSync(path, 'utf8'), mode: st.mode, stamp: st.stamp };
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EACCES')) return undefined;
      throw e;
    }
  },
  fileStamp: (path) => nodeStat(path)?.stamp,
};

let reads = nodeReads;

/** The daemon's switch to the libc reads (src/sys/file.ts); undefined goes back to Node's fs. */
export function useLibcReads(libc: StampedReads | undefined): void {
  reads = libc ?? nodeReads;
}

/** The stamp of a file version, whichever way it was read. */
export function fileStampOf(ino: number, size: number, ctimeSec: number, ctimeNsec: number, mode: number): string {
  return `${ino}:${size}:${ctimeSec}.${ctimeNsec}:${mode}`;
}

/** A file's text, mode and stamp; undefined when it does not exist or may not be read (ENOENT, ENOTDIR, EACCES). */
export function readStamped(path: string): StampedFile | undefined {
  return reads.readFileWithMode(path);
}

/** A file's stamp; undefined when there is nothing at `path` (or it may not be looked at). */
export function stampOf(path: string): string | undefined {
  return reads.fileStamp(path);
}
