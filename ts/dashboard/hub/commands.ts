/**
 * Commands from clients (and hub.command()): pause, resume, abort and
 * setLearningRate on one watched source (by label or run id) or on every
 * running one. A command is offered for a source when the source has the
 * method; every failure is a CommandResult with a stable code, never a throw.
 */
import type { CommandName } from '../protocol';
import type { CommandInput, CommandResult, SourceEntry } from './model';
import { errorSummary } from './model';
import type { RunBook } from './run-book';
import { adapterFor } from './sources';

export function controlsOf(src: SourceEntry): CommandName[] {
  if (src.kind === 'gpuMonitor') return [];
  const o = src.obj;
  const own = adapterFor(src.kind)?.controls;
  if (own) return own(o as unknown as Record<string, unknown>);
  const out: CommandName[] = [];
  if (typeof o.pause === 'function') out.push('pause');
  if (typeof o.resume === 'function') out.push('resume');
  if (typeof o.abort === 'function') out.push('abort');
  if (typeof o.setLearningRate === 'function') out.push('setLearningRate');
  return out;
}

function resolveTargets(book: RunBook, target: string | null | undefined): SourceEntry[] | CommandResult {
  const controllable = book.controllable();
  if (target) {
    const match = controllable.filter((s) => s.label === target || s.runId === target || s.run?.runId === target || s.run?.key === target);
    if (match.length === 0) {
      return { ok: false, code: 'UNKNOWN_TARGET', message: `No watched trainer has the label or run id '${target}' (labels: ${controllable.map((s) => s.label).join(', ') || 'none'}).` };
    }
    for (const s of match) book.pollSource(s);
    const idle = match.filter((s) => s.activity === 'idle' && !(s.run && s.run.status === 'running'));
    if (idle.length === match.length) return { ok: false, code: 'NOT_RUNNING', message: `'${target}' is not training.` };
    return match;
  }
  for (const s of controllable) book.pollSource(s);
  const running = controllable.filter((s) => s.activity !== 'idle' || (s.run !== null && s.run.status === 'running'));
  if (running.length === 0) return { ok: false, code: 'NOT_RUNNING', message: 'Nothing is training.' };
  return running;
}

/** Reports a command whose method answered with a promise that rejected (a remote job refusing it). */
export type LateFailure = (label: string, command: CommandName, error: unknown) => void;

function watchOutcome(value: unknown, label: string, command: CommandName, onLateFailure: LateFailure): void {
  if (typeof (value as { then?: unknown })?.then === 'function') (value as Promise<unknown>).then(undefined, (error: unknown) => onLateFailure(label, command, error));
}

export function executeCommand(book: RunBook, input: CommandInput, from: string, allowCommands: boolean, onLateFailure: LateFailure = () => undefined): CommandResult {
  if (!allowCommands) return { ok: false, code: 'COMMANDS_DISABLED', message: 'This dashboard is read-only (allowCommands: false).' };
  const command = input.command;
  const targets = resolveTargets(book, input.target);
  if (!Array.isArray(targets)) return targets;
  for (const s of targets) {
    if (!controlsOf(s).includes(command)) {
      return { ok: false, code: 'UNSUPPORTED', message: `'${s.label}' (${s.kind}) does not support ${command}.` };
    }
  }
  if (command === 'setLearningRate') {
    const lr = input.learningRate;
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0 || lr > 10) {
      return { ok: false, code: 'INVALID_VALUE', message: `learningRate must be a finite number in (0, 10] (got ${String(lr)}).` };
    }
  }
  try {
    for (const s of targets) {
      const o = s.obj;
      const settle = (value: unknown): void => watchOutcome(value, s.label, command, onLateFailure);
      switch (command) {
        case 'pause':
          settle(o.pause!());
          break;
        case 'resume':
          settle(o.resume!());
          break;
        case 'abort':
          s.abortedBy = from;
          settle(o.abort!(input.reason ?? `aborted from the dashboard (${from})`));
          break;
        case 'setLearningRate':
          settle(o.setLearningRate!(input.learningRate as number));
          s.learningRate = input.learningRate as number;
          if (s.run && s.run.status === 'running') s.run.learningRate = s.learningRate;
          break;
      }
    }
  } catch (error) {
    const e = errorSummary(error);
    return { ok: false, code: e.code === 'CONFIG_INVALID' ? 'INVALID_VALUE' : 'COMMAND_FAILED', message: e.message };
  }
  return { ok: true, targets: targets.map((s) => s.label) };
}
