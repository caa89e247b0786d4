/**
 * Where an initial snapshot stands, kept in a small JSON file so an interrupted
 * snapshot resumes from its last confirmed chunk. Written only after a chunk's
 * events were confirmed by the consumer (the sink), atomically (temporary file,
 * fsync, rename): a crash leaves the previous state or the new one, never half.
 *
 * Chunk progress is saved at most once a second (`saveSoon`): a write with its
 * fsync cost 3 ms of CPU, 7-8% of a fast snapshot's, when it followed every
 * 2,000-row chunk. A crash loses at most that second's progress, whose chunks
 * are read again with the same event ids (snapshots are at-least-once anyway);
 * a stop writes what was confirmed (`flush`).
 */
import type { SlotGap } from '../events/gap-event.ts';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CdcError } from '../core/errors.ts';

/** One reader's progress through a table, or through a range of its key. */
export interface ReadProgress {
  /** Key of the last confirmed row, as text (the keyset position to go on from). */
  after?: Array<string | null>;
  rows: number;
  done: boolean;
}

export interface TableProgress extends ReadProgress {
  /**
   * A table read by several readers at once (`snapshot.parallelism`): each range
   * of its key (snapshot/key-ranges.ts) with its own progress. Set once, when
   * the table is first read; the table's `rows` and `done` sum them up.
   */
  ranges?: Array<RangeProgress>;
}

export interface RangeProgress extends ReadProgress {
  /** Rows with from < key <= to; a missing end is open. */
  from?: Array<string | null>;
  to?: Array<string | null>;
}

export interface SnapshotState {
  slot: string;
  /** The slot's position the snapshot belongs to (its consistent point when pgcdc created it). */
  lsn: string;
  startedAt: string;
  tables: Record<string, TableProgress>;
  done: boolean;
  /** A lost slot this snapshot replaces (`onSlotLost: resnapshot`): its gap event goes first. */
  gap?: SlotGap;
}

/** How often chunk progress is written at most (see the file's comment). */
export const PROGRESS_SAVE_INTERVAL_MS = 1_000;

/** `.pgcdc/<slot>.snapshot.json`, relative to `base` (the config file's folder) or the working directory. */
export function defaultSnapshotStateFile(slot: string, base = '.'): string {
  return join(base, '.pgcdc', `${slot}.snapshot.json`);
}

/** `<state>.incremental.json` beside the initial snapshot's state file: the incremental snapshot's queue and progress. */
export function incrementalStateFileFor(snapshotStateFile: string): string {
  return `${snapshotStateFile.replace(/(\.snapshot)?\.json$/, '')}.incremental.json`;
}

/** A snapshot's state (initial: SnapshotState; incremental: IncrementalState) in a JSON file. */
export class SnapshotStateFile<State = SnapshotState> {
  readonly path: string;
  /** Progress confirmed but not yet written (saveSoon), and when the last write was. */
  private unsaved: State | undefined;
  private lastWriteMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private timedWriteError: unknown;

  constructor(path: string) {
    this.path = path;
  }

  read(): State | undefined {
    if (!existsSync(this.path)) return undefined;
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as State;
    } catch (error) {
      throw new CdcError('PGCDC_SNAPSHOT', `snapshot state ${this.path} is unreadable (${(error as Error).message}); delete it to snapshot again from the start`, { cause: error });
    }
  }

  /**
   * Saves `state` within `intervalMs`: now when the last write is that old,
   * else by a timer (the state object is written as it is then, which is
   * confirmed progress only: it is changed only when chunks are confirmed).
   */
  saveSoon(state: State, intervalMs = PROGRESS_SAVE_INTERVAL_MS): void {
    this.unsaved = state;
    const wait = this.lastWriteMs + intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.timedFlush(), wait).unref();
  }

  /** Writes progress that saveSoon has not written yet; throws a failed timed write's error (full disk, say). */
  flush(): void {
    const failed = this.timedWriteError;
    this.timedWriteError = undefined;
    if (this.unsaved !== undefined) this.write(this.unsaved);
    else if (failed !== undefined) throw failed;
  }

  /**
   * The timer's write. Its error must not escape a timer (an uncaught exception
   * ends the process with a stack trace): it is kept, the state stays unsaved,
   * and the next saveSoon or flush, called where errors are handled, writes again.
   */
  private timedFlush(): void {
    this.timer = undefined;
    try {
      this.flush();
    } catch (error) {
      this.timedWriteError = error;
    }
  }

  write(state: State): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    mkdirSync(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
    // Only once written: a failed write leaves the progress unsaved, for the next one.
    this.unsaved = undefined;
    this.lastWriteMs = Date.now();
  }
}
