/**
 * File helpers: finding the checkpoint a path means, and writing an output
 * file atomically (temporary file, fsync, rename), so a failure or Ctrl-C
 * never leaves half a file behind.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, rmSync } from 'node:fs';
import * as path from 'node:path';
import { BackpropError } from '../errors';

/**
 * The checkpoint folder `target` means: itself when it holds a checkpoint,
 * else the model of a multi-run session folder (run_history.json), else the
 * highest-numbered checkpoint-<N> (or run-<N>) folder inside it (a training
 * --output folder). Returns `target` unchanged when it is not a folder, so
 * readCheckpoint reports CHECKPOINT_NOT_FOUND.
 */
export async function resolveCheckpoint(target: string): Promise<string> {
  let entries: string[];
  try {
    if (!(await fsp.stat(target)).isDirectory()) return target;
    entries = await fsp.readdir(target);
  } catch {
    return target;
  }
  if (entries.includes('trainer_state.json') || entries.includes('model.safetensors')) return target;
  if (entries.includes('run_history.json')) {
    // A multi-run session folder: the session's current model.
    try {
      const state = JSON.parse(await fsp.readFile(path.join(target, 'run_history.json'), 'utf8')) as { startCheckpoint?: unknown };
      if (typeof state.startCheckpoint === 'string' && entries.includes(state.startCheckpoint)) return path.join(target, state.startCheckpoint);
    } catch {
      // fall through to the folder scan
    }
  }
  let best: { step: number; name: string } | null = null;
  for (const name of entries) {
    const m = /^(?:checkpoint|run)-(\d+)$/.exec(name);
    if (m && (!best || Number(m[1]) > best.step)) best = { step: Number(m[1]), name };
  }
  if (best) return path.join(target, best.name);
  throw new BackpropError(
    'CHECKPOINT_NOT_FOUND',
    `'${target}' is a folder but holds no checkpoint (no trainer_state.json, no checkpoint-<step> or run-<i> folders). ` +
      `Pass a checkpoint folder such as out/checkpoint-100, or the --output folder of a training run.`,
    { path: target },
  );
}

/**
 * Fails before any work when `dir` cannot become an output folder: it is a
 * file, or its nearest existing ancestor is a file or not writable. Creates
 * nothing, so a run that fails later leaves no empty folder behind.
 */
export async function checkOutputFolder(dir: string, flag: string): Promise<void> {
  const target = path.resolve(dir);
  const fail = (why: string): never => {
    throw new BackpropError('CONFIG_INVALID', `${flag} ${dir}: ${why}`, { field: flag, value: dir });
  };
  for (let probe = target; ; probe = path.dirname(probe)) {
    let isDirectory: boolean;
    try {
      isDirectory = (await fsp.stat(probe)).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(probe) !== probe) continue;
      return fail(`cannot check ${probe} (${(error as Error).message}). Pick another folder.`);
    }
    if (!isDirectory) {
      return fail(probe === target
        ? 'is a file, not a folder. Pass a folder path (it is created if missing).'
        : `cannot be created because ${probe} is a file, not a folder. Pick another path.`);
    }
    try {
      await fsp.access(probe, fsConstants.W_OK);
    } catch {
      fail(`${probe === target ? 'the folder' : `its parent ${probe}`} is not writable. Pick a folder you can write to.`);
    }
    return;
  }
}

/** Temporary files being written; removed if the process exits mid-write (e.g. a second Ctrl-C). */
const pendingTemps = new Set<string>();
let exitHookInstalled = false;

function trackTemp(tmp: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const t of pendingTemps) rmSync(t, { force: true });
    });
  }
  pendingTemps.add(tmp);
}

/** Writes `chunks` to `file` through a temporary file in the same folder, then renames it into place. */
export async function writeFileAtomic(file: string, chunks: Iterable<string>): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  trackTemp(tmp);
  try {
    const handle = await fsp.open(tmp, 'wx');
    try {
      let pending = '';
      for (const chunk of chunks) {
        pending += chunk;
        if (pending.length >= 1 << 20) {
          await handle.write(pending);
          pending = '';
        }
      }
      if (pending) await handle.write(pending);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
    pendingTemps.delete(tmp);
  } catch (error) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `the folder ${dir} does not exist` : (error as Error).message;
    pendingTemps.delete(tmp);
    throw new BackpropError('RUNTIME_FAILED', `Could not write ${file}: ${why}. Check the path and that the folder is writable.`, { path: file, errno: code ?? null }, { cause: error });
  }
}
