/**
 * Errors with stable codes. Every error pgcdc raises on purpose is a `CdcError`:
 * `code` never changes between releases (scripts and alerts may match on it),
 * `message` is one line that says what happened and what to do, and `exitCode`
 * is what the CLI exits with (docs/cli.md lists them).
 */
export type ErrorCode =
  | 'PGCDC_BAD_ARGUMENT'
  | 'PGCDC_BAD_URL'
  | 'PGCDC_UNREACHABLE'
  | 'PGCDC_AUTH_FAILED'
  | 'PGCDC_TLS'
  | 'PGCDC_NO_REPLICATION_PRIVILEGE'
  | 'PGCDC_WAL_LEVEL'
  | 'PGCDC_SERVER_TOO_OLD'
  | 'PGCDC_SLOT_MISSING'
  | 'PGCDC_SLOT_IN_USE'
  | 'PGCDC_SLOT_EXISTS'
  | 'PGCDC_SLOT_PLUGIN_MISMATCH'
  | 'PGCDC_SLOT_LIMIT'
  /** The slot was invalidated: changes after its position are gone from the server. */
  | 'PGCDC_SLOT_LOST'
  /** Another instance took the slot's lease over: this one delivers nothing more until it holds it again. */
  | 'PGCDC_LEASE_LOST'
  | 'PGCDC_PLUGIN_NOT_ALLOWED'
  | 'PGCDC_PUBLICATION_MISSING'
  | 'PGCDC_REPLICA_IDENTITY'
  | 'PGCDC_TABLE_MISSING'
  | 'PGCDC_DATABASE_MISSING'
  | 'PGCDC_PROTOCOL'
  | 'PGCDC_REPLICATION_ENDED'
  | 'PGCDC_SPILL_IO'
  | 'PGCDC_OUTPUT'
  | 'PGCDC_REJECTED_EVENT'
  | 'PGCDC_BAD_INPUT'
  | 'PGCDC_CONFIG'
  | 'PGCDC_SNAPSHOT'
  | 'PGCDC_BAD_SIGNAL'
  | 'PGCDC_SINK'
  | 'PGCDC_POSTGRES'
  | 'PGCDC_DEMO'
  /** A console request that cannot be done as asked (unknown pipeline, no dead-letter file, bad action): answered 4xx, never ends pgcdc. */
  | 'PGCDC_CONSOLE_REQUEST'
  /** An AbortSignal given to ChangeStream.open or Pipeline.start was aborted before it was ready. */
  | 'PGCDC_ABORTED'
  /** Raised by bin/pgcdc.js before the library loads (Node older than 22). */
  | 'PGCDC_NODE_VERSION'
  /** Raised by bin/pgcdc.js: a clone whose dist/ was not built. */
  | 'PGCDC_NOT_BUILT';

export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2,
  connection: 3,
  configuration: 4,
  slot: 5,
  protocol: 6,
  rejected: 7,
  sink: 8,
  slotLost: 9,
  interrupted: 130,
} as const;

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  PGCDC_BAD_ARGUMENT: EXIT_CODES.usage,
  PGCDC_BAD_URL: EXIT_CODES.usage,
  PGCDC_UNREACHABLE: EXIT_CODES.connection,
  PGCDC_AUTH_FAILED: EXIT_CODES.connection,
  PGCDC_TLS: EXIT_CODES.connection,
  PGCDC_NO_REPLICATION_PRIVILEGE: EXIT_CODES.configuration,
  PGCDC_WAL_LEVEL: EXIT_CODES.configuration,
  PGCDC_SERVER_TOO_OLD: EXIT_CODES.configuration,
  PGCDC_DATABASE_MISSING: EXIT_CODES.configuration,
  PGCDC_PUBLICATION_MISSING: EXIT_CODES.configuration,
  PGCDC_REPLICA_IDENTITY: EXIT_CODES.configuration,
  PGCDC_TABLE_MISSING: EXIT_CODES.configuration,
  PGCDC_SLOT_MISSING: EXIT_CODES.slot,
  PGCDC_SLOT_IN_USE: EXIT_CODES.slot,
  PGCDC_SLOT_EXISTS: EXIT_CODES.slot,
  PGCDC_SLOT_PLUGIN_MISMATCH: EXIT_CODES.slot,
  PGCDC_SLOT_LIMIT: EXIT_CODES.slot,
  PGCDC_SLOT_LOST: EXIT_CODES.slotLost,
  PGCDC_LEASE_LOST: EXIT_CODES.slot,
  PGCDC_PLUGIN_NOT_ALLOWED: EXIT_CODES.configuration,
  PGCDC_PROTOCOL: EXIT_CODES.protocol,
  PGCDC_REPLICATION_ENDED: EXIT_CODES.connection,
  PGCDC_SPILL_IO: EXIT_CODES.failure,
  PGCDC_OUTPUT: EXIT_CODES.failure,
  PGCDC_REJECTED_EVENT: EXIT_CODES.rejected,
  PGCDC_BAD_INPUT: EXIT_CODES.protocol,
  PGCDC_CONFIG: EXIT_CODES.usage,
  PGCDC_SNAPSHOT: EXIT_CODES.configuration,
  PGCDC_BAD_SIGNAL: EXIT_CODES.usage,
  PGCDC_SINK: EXIT_CODES.sink,
  PGCDC_POSTGRES: EXIT_CODES.failure,
  PGCDC_DEMO: EXIT_CODES.failure,
  PGCDC_CONSOLE_REQUEST: EXIT_CODES.usage,
  PGCDC_ABORTED: EXIT_CODES.interrupted,
  PGCDC_NODE_VERSION: EXIT_CODES.failure,
  PGCDC_NOT_BUILT: EXIT_CODES.failure,
};

export interface CdcErrorOptions {
  cause?: unknown;
  /** True when trying again later may succeed (network trouble, slot busy). */
  retriable?: boolean;
}

export class CdcError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: CdcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CdcError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }

  get exitCode(): number {
    return EXIT_BY_CODE[this.code];
  }
}

/**
 * Malformed or truncated protocol bytes. Carries the message tag and the byte
 * offset where reading failed, so a capture can be inspected at that spot.
 */
export class ProtocolError extends CdcError {
  readonly offset: number;
  readonly tag: string | undefined;

  constructor(message: string, offset: number, tag?: string) {
    super('PGCDC_PROTOCOL', `${tag === undefined ? '' : `${describeTag(tag)}: `}${message} at byte ${offset}`);
    this.name = 'ProtocolError';
    this.offset = offset;
    this.tag = tag;
  }
}

function describeTag(tag: string): string {
  return `pgoutput message '${tag}'`;
}

export function isCdcError(error: unknown): error is CdcError {
  return error instanceof CdcError;
}
