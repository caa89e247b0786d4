/** The shapes the console's API answers with (src/console/console-api.ts). */
export interface Series {
  t: number[];
  eventsPerSecond: number[];
  lagBytes: number[];
  lagSeconds: number[];
  retainedWalBytes: Array<number | null>;
}

export interface PipelineOverview {
  name: string;
  slot: string;
  state: 'starting' | 'streaming' | 'snapshotting' | 'degraded' | 'standby' | 'stopped' | 'failed';
  health: string;
  sink: string;
  events: number;
  deadLetters: number;
  retries: number;
  acknowledgedLsn: string | null;
  eventsPerSecond: number;
  lagBytes: number;
  lagSeconds: number;
  retainedWalBytes: number | null;
  walStatus: string | null;
  retainedWalWarnBytes: number;
  lastError: { message: string; code: string | undefined; at: string } | null;
  history: Series;
}

export interface Overview {
  csrf: string;
  sampleSeconds: number;
  tailLimitPerSecond: number;
  pipelines: PipelineOverview[];
}

export interface TailEntry {
  pipeline: string;
  id: string;
  op: string;
  table: string;
  lsn: number | null;
  tsMs: number;
  topic: string;
  key: string | null;
  headers: Record<string, string>;
  value: unknown;
}

export interface DeadLetter {
  line: number;
  reason: string;
  stage: string;
  id: string;
  op: string;
  table: string;
  tsMs: number;
  decision: { action: 'retried' | 'discarded'; at: string } | null;
  event: unknown;
}

export interface DeadLetters {
  pipelines: Array<{ name: string; path: string | null; total: number; pending: number; entries: DeadLetter[] }>;
}

export interface InitialProgress { table: string; rows: number; estimatedRows: number; tablesDone: number; tables: number; done: boolean; secondsLeft: number | null }
export interface IncrementalProgress { table: string; rows: number; estimatedRows: number; tablesQueued: number; paused: boolean; tableDone: boolean; secondsLeft: number | null }

export interface Snapshots {
  pipelines: Array<{ name: string; signals: boolean; rowsPerSecond: number; initial: InitialProgress | null; incremental: IncrementalProgress | null }>;
}

export interface Slot {
  name: string;
  pipeline: string | null;
  plugin: string | null;
  slotType: string;
  database: string | null;
  temporary: boolean;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  restartLsn: string | null;
  retainedWalBytes: number | null;
  walStatus: string | null;
  failover: boolean | null;
  synced: boolean | null;
}

export interface Slots {
  servers: Array<{ server: string; warnings: string[]; slots: Slot[]; error: string | null }>;
}
