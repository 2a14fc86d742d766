/**
 * The option checks every public entry point shares (trainer and train
 * options, multi-run configs and run() options, the dashboard hub and server,
 * datasets, GPU configs and monitors, fleet jobs). Every failure is a
 * `CONFIG_INVALID` BackpropError whose `details.field` names the option
 * (dotted for nested ones, such as `model.hiddenLayers`), whose
 * `details.value` is what was given, and, for an unknown key, whose
 * `details.suggestion` is the known key it most likely meant. Each
 * `optional*` check treats `undefined` as "not given" and returns undefined
 * (or null) for it, so defaults stay at the call sites.
 */
import { BackpropError, formatValue } from './errors';

export function configError(field: string, value: unknown, message: string): BackpropError {
  return new BackpropError('CONFIG_INVALID', message, { field, value });
}

export function requireRecord(value: unknown, field: string, hint: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError(field, value, `${field} must be an object (got ${formatValue(value)}). ${hint}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Throws for the first key of `record` that is not in `known`. `prefix` is
 * prepended to the key in `details.field` (such as 'model.'); `where` names
 * the entry point in the message (such as 'for datasets.spirals()'), by
 * default the prefix; `noun` names the kind of option ('Unknown event hub
 * option ...'). Keys listed in `ignore` are accepted without a check.
 */
export function rejectUnknownKeys(
  record: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
  options: { where?: string; noun?: string; ignore?: readonly string[] } = {},
): void {
  for (const key of Object.keys(record)) {
    if (known.includes(key) || options.ignore?.includes(key)) continue;
    const suggestion = closestKey(key, known);
    const didYouMean = suggestion ? ` Did you mean '${suggestion}'?` : '';
    const where = options.where ? `${options.where} ` : prefix ? `in ${prefix.slice(0, -1)} ` : '';
    throw new BackpropError(
      'CONFIG_INVALID',
      `Unknown ${options.noun ? `${options.noun} ` : ''}option '${key}' ${where}(not one of: ${known.join(', ')}).${didYouMean} Remove it or fix its spelling.`,
      suggestion === undefined ? { field: `${prefix}${key}`, value: record[key] } : { field: `${prefix}${key}`, value: record[key], suggestion },
    );
  }
}

/** The known key a typo most likely meant: same letters ignoring case, or at most two edits away. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameLetters = known.find((k) => k.toLowerCase() === lower);
  if (sameLetters) return sameLetters;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export function requireInteger(value: unknown, field: string, min: number, max: number, hint: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw configError(field, value, `${field} must be an integer ${range} (got ${formatValue(value)}). ${hint}`);
  }
  return value;
}

export function optionalInteger(value: unknown, field: string, min: number, max: number, hint: string): number | undefined {
  return value === undefined ? undefined : requireInteger(value, field, min, max, hint);
}

export function optionalNumber(
  value: unknown,
  field: string,
  rule: { check: (v: number) => boolean; rule: string; hint: string },
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || !rule.check(value)) {
    throw configError(field, value, `${field} must be ${rule.rule} (got ${formatValue(value)}). ${rule.hint}`);
  }
  return value;
}

export function optionalBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') {
    throw configError(field, value, `${field} must be true or false (got ${formatValue(value)}). Pass a boolean.`);
  }
  return value;
}

export function optionalOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ');
    throw configError(field, value, `${field} must be one of ${list} (got ${formatValue(value)}). Pass one of those strings exactly.`);
  }
  return value as T;
}

/** null and undefined both mean "not given" here, because the resolved option is nullable. */
export function optionalNonEmptyString(value: unknown, field: string, hint: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '') {
    throw configError(field, value, `${field} must be a non-empty string (got ${formatValue(value)}). ${hint}`);
  }
  return value;
}
