/**
 * Reads pgcdc.yaml / pgcdc.json: parse, interpolate ${ENV_VARS} into string
 * values (after parsing, so a value can never inject YAML), validate. A file with
 * a single pipeline may put source/sink/... at the top level. Every problem is
 * reported at once, one line each, with its path. Secrets never appear: messages
 * name paths and variables, not values.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { CdcError } from '../core/errors.ts';
import { defaultSnapshotStateFile } from '../snapshot/snapshot-state.ts';
import { describeIssue } from './describe-issue.ts';
import { setLibpqVariables } from '../source/connection-config.ts';
import { configSchema, type PgcdcConfig, type PgcdcConfigInput, type SinglePipelineConfigInput } from './schema.ts';

const CODE_CONFIG = /\.(ts|mts|js|mjs)$/;

/**
 * Loads any config: YAML or JSON (loadConfigFile), or pgcdc.config.ts / .js /
 * .mjs, whose default export is the config (or a function returning it, maybe
 * async) and whose transforms may be functions. TypeScript configs run through
 * Node's type stripping (Node 22.18+, 23.6+).
 */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<PgcdcConfig> {
  if (!CODE_CONFIG.test(path)) return loadConfigFile(path, env);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (error) {
    throw new CdcError('PGCDC_CONFIG', `cannot load config ${path}: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  let raw = module.default;
  if (typeof raw === 'function') raw = await (raw as () => unknown)();
  if (raw === undefined) throw new CdcError('PGCDC_CONFIG', `${path}: export the config as the default export (export default defineConfig({...}))`);
  return resolveRelativePaths(parseConfig(raw, env, path), path);
}

/** Types a pgcdc.config.ts: `export default defineConfig({ source: ..., sink: ..., transforms: [fn] })`. */
export function defineConfig<T extends PgcdcConfigInput | SinglePipelineConfigInput>(config: T): T {
  return config;
}

/** Transform modules and snapshot state files are relative to the config file. */
function resolveRelativePaths(config: PgcdcConfig, configPath: string): PgcdcConfig {
  const base = dirname(resolve(configPath));
  for (const pipeline of config.pipelines) {
    pipeline.transforms = pipeline.transforms.map((t) => (typeof t === 'string' ? resolve(base, t) : t));
    pipeline.snapshot.stateFile = resolve(base, pipeline.snapshot.stateFile ?? defaultSnapshotStateFile(pipeline.source.slot));
  }
  return config;
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): PgcdcConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CdcError('PGCDC_CONFIG', `cannot read config ${path}: ${(error as Error).message}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new CdcError('PGCDC_CONFIG', `${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  return resolveRelativePaths(parseConfig(raw, env, path), path);
}

export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, origin = 'config'): PgcdcConfig {
  const problems: string[] = [];
  const envProblemPaths = new Set<string>();
  const interpolated = interpolate(raw, env, [], problems, envProblemPaths);
  // A file with one pipeline may write it at the top level; paths are then reported as written.
  const shorthand = isObject(interpolated) && !('pipelines' in interpolated) && 'source' in interpolated;
  const shaped = shorthand
    ? { pipelines: [omit(interpolated, ['metrics'])], ...('metrics' in interpolated ? { metrics: interpolated.metrics } : {}) }
    : interpolated;
  const result = configSchema.safeParse(shaped);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = (shorthand && issue.path[0] === 'pipelines' ? issue.path.slice(2) : issue.path).join('.');
      if (envProblemPaths.has(path)) continue; // already reported: the variable is missing
      problems.push(`${path || '(top level)'}: ${describeIssue(issue, shaped)}`);
    }
  }
  if (result.success) problems.push(...missingSourceUrls(result.data, shorthand, env));
  if (problems.length > 0) {
    throw new CdcError('PGCDC_CONFIG', `${origin}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
  return result.data!;
}

/**
 * A pipeline without source.url connects where DATABASE_URL or the PG* variables
 * say (the run command says which). With neither set it would fall back to
 * libpq's localhost:5432 silently: that is a config mistake, reported here.
 */
function missingSourceUrls(config: PgcdcConfig, shorthand: boolean, env: NodeJS.ProcessEnv): string[] {
  if ((env.DATABASE_URL ?? '') !== '' || setLibpqVariables(env).length > 0) return [];
  return config.pipelines.flatMap((pipeline, i) => (pipeline.source.url === undefined
    ? [`${shorthand ? '' : `pipelines.${i}.`}source.url: is required (a postgresql:// URL), unless DATABASE_URL or the PG* variables (PGHOST, PGPORT, ...) are set`]
    : []));
}

function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: Array<string | number>, problems: string[], problemPaths: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${path.join('.') || '(top level)'}: environment variable ${name} is not set (used as \${${name}})`);
      problemPaths.add(path.join('.'));
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems, problemPaths));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], problems, problemPaths)]));
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function omit(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}
