/** Loads user transforms from modules (TypeScript runs directly on Node 22.6+ with type stripping). */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CdcError } from '../core/errors.ts';
import type { NamedTransform } from './transform-chain.ts';
import type { Transform } from './transform.ts';

export async function loadTransforms(files: string[]): Promise<NamedTransform[]> {
  const transforms: NamedTransform[] = [];
  for (const file of files) {
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
    } catch (error) {
      throw new CdcError('PGCDC_BAD_ARGUMENT', `cannot load transform ${file}: ${(error as Error).message}`, { cause: error });
    }
    const exported = module.default;
    const list = Array.isArray(exported) ? exported : [exported];
    list.forEach((transform, i) => {
      if (typeof transform !== 'function') {
        throw new CdcError('PGCDC_BAD_ARGUMENT', `transform ${file} must export a function (event, context) => event | event[] | null as its default export`);
      }
      transforms.push({ name: list.length > 1 ? `${file}#${i}` : file, transform: transform as Transform });
    });
  }
  return transforms;
}
