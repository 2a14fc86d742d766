/**
 * The session folder's commit protocol, names side: a merge folder is written
 * under a staged name (`<name>.staged`), the session state that names it is
 * written next, and only then is the folder moved to its final name. A
 * session stopped at any point between those writes resumes to one
 * consistent state: these helpers say which folder a stored name means.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** Suffix of a merge folder written before the state that names it is committed. */
export const STAGED_SUFFIX = '.staged';

export function stagedName(name: string): string {
  return `${name}${STAGED_SUFFIX}`;
}

export function isStagedName(name: string): boolean {
  return name.endsWith(STAGED_SUFFIX);
}

export function unstagedName(name: string): string {
  return isStagedName(name) ? name.slice(0, -STAGED_SUFFIX.length) : name;
}

/**
 * The folder a stored start checkpoint now lives in: a staged name whose
 * folder was already moved to its final place (the session stopped between
 * the move and the state write that records it) means the final name.
 */
export async function settledStartCheckpoint(dir: string, name: string): Promise<string> {
  if (!isStagedName(name)) return name;
  const exists = await fsp.stat(path.join(dir, name)).then(() => true, () => false);
  return exists ? name : unstagedName(name);
}

