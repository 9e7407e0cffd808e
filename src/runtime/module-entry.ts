/**
 * The file a worker thread or a child process runs, next to the module that starts it: the `.ts`
 * source under tsx or ts-jest (loaded through tsx's require hook, since a worker or a child runs
 * outside jest's module system), the `.js` file in the built dist/. Used by the recording thread,
 * the database writer and read pool, and the migration child.
 */
import path from 'node:path';

export interface ModuleEntry {
  file: string;
  execArgv: string[];
}

/** `baseName` beside `fromFile` (its own extension), or `fromFile` itself without a name. */
export function moduleEntry(fromFile: string, baseName?: string): ModuleEntry {
  const ext = path.extname(fromFile);
  const file = baseName === undefined ? fromFile : path.join(path.dirname(fromFile), `${baseName}${ext}`);
  return { file, execArgv: ext === '.ts' ? ['--require', require.resolve('tsx/cjs')] : [] };
}
