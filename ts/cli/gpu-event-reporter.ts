/**
 * The CLI's GPU reporting, shared by train and multi-run: condition changes
 * and read failures, as events (json) and as lines or warnings (human).
 */
import type { GPUReadErrorEvent, GPUStatus } from '../gpu';
import { conditionSeverity } from '../gpu';
import { statusLine } from './gpu-format';
import type { Output } from './output';

/** GPU conditions and read errors, shared by train and multi-run. */
export class GpuEventReporter {
  private lastCondition: string | null = null;

  constructor(private readonly out: Output) {}

  status(s: GPUStatus): void {
    this.out.event('gpuStatus', { ...s });
    const severity = conditionSeverity(s.condition);
    const changed = s.condition !== this.lastCondition;
    const previous = this.lastCondition === null ? -1 : conditionSeverity(this.lastCondition);
    this.lastCondition = s.condition;
    const line = `GPU ${statusLine(s, this.out.ce)}`;
    if (this.out.verbose && (changed || severity >= 2)) this.out.log(line);
    else if (!this.out.verbose && changed && (severity >= 2 || previous >= 2)) this.out.warn(`GPU ${s.condition}: ${s.conditionReason || statusLine(s, this.out.ce)}`);
  }

  readError(e: GPUReadErrorEvent): void {
    this.out.event('gpuReadError', { deviceIndex: e.deviceIndex, consecutiveFailures: e.consecutiveFailures, thermalSafetyDisabled: e.thermalSafetyDisabled, message: e.error.message });
    const disabled = e.thermalSafetyDisabled ? ' Thermal safety is disabled until it can be read again.' : '';
    if (this.out.verbose || e.consecutiveFailures === 1 || e.consecutiveFailures === 3) {
      this.out.warn(`GPU read failed (${e.consecutiveFailures} in a row): ${e.error.message}.${disabled}`);
    }
  }
}
