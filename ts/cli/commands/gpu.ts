/** `backprop gpu`: the health of every GPU, once, live (--watch), or a simulated scenario. */
import { Option, type Command } from 'commander';
import { GPUMonitor, listGPUs, nvmlInfo, scriptedGPUSource, conditionSeverity, type GPUReadErrorEvent, type GPUStatus } from '../../gpu';
import { action } from '../command';
import { EXIT_OK } from '../errors';
import { fmtCondition } from '../format';
import { statusLine, statusTable } from '../gpu-format';
import { integer, UsageError } from '../options';
import type { Output } from '../output';
import { SCENARIOS, SCENARIO_NAMES } from '../scenarios';
import { exitCodeFor, onInterrupt } from '../signals';

interface GpuFlags {
  watch?: boolean;
  interval?: number;
  simulate?: string;
}

const EXAMPLES = `
Examples:
  $ backprop gpu                        every GPU: temperature, condition, VRAM, power, clocks, processes
  $ backprop gpu --watch --interval 2000
  $ backprop gpu --json
  $ backprop gpu --simulate heatup --interval 200

Scenarios for --simulate (played through the real GPU monitor, then it exits):
${SCENARIO_NAMES.map((n) => `  ${n.padEnd(10)} ${SCENARIOS[n]!.description}`).join('\n')}

Conditions: safe < warm (70 °C) < warning (80 °C, VRAM 90 %, power 95 %) < critical (90 °C, VRAM 95 %,
power 100 %) < emergency (95 °C, or within 3 °C of the card's shutdown temperature).
Without an NVIDIA driver (no NVML) it says so and exits 0.`;

export function registerGpu(program: Command): void {
  program
    .command('gpu')
    .summary('GPU health: temperature, condition, VRAM, power, clocks, processes')
    .description('Show every GPU\'s health (like gpustat): temperature, safety condition, VRAM, power, utilisation, clocks, throttle reasons and processes.')
    .option('--watch', 'keep sampling until Ctrl-C')
    .option('--interval <ms>', 'sampling interval in milliseconds (default: 1000; 500 with --simulate)', integer(1, 3_600_000))
    .addOption(new Option('--simulate <scenario>', 'play a simulated scenario through the GPU monitor').choices(SCENARIO_NAMES))
    .addHelpText('after', EXAMPLES)
    .action(action<GpuFlags>((out, _args, o) => gpu(out, o)));
}

async function gpu(out: Output, o: GpuFlags): Promise<number> {
  if (o.simulate) return simulate(out, o.simulate, o.interval ?? 500);
  if (o.interval !== undefined && !o.watch) throw new UsageError('--interval applies to --watch and --simulate.');
  const info = nvmlInfo();
  if (!info.available) {
    out.event('gpuUnavailable', { reason: info.reason, libraryPath: info.libraryPath });
    out.print(`No GPU can be read on this machine: NVML, the NVIDIA driver's monitoring library, is unavailable (${info.reason}).`);
    out.print(out.c.dim('Training runs on the CPU here. With an NVIDIA driver installed elsewhere, set BACKPROP_NVML_LIBRARY to its libnvidia-ml.so.1; `backprop gpu --simulate heatup` shows the monitor on a simulated GPU.'));
    return EXIT_OK;
  }
  if (info.deviceCount === 0) {
    out.event('gpuUnavailable', { reason: 'NVML found no GPUs', libraryPath: info.libraryPath });
    out.print(`No GPU found: NVML is loaded (${info.libraryPath}) but reports no devices.`);
    return EXIT_OK;
  }
  if (!o.watch) {
    const statuses = listGPUs({ config: { logWarnings: false } });
    for (const s of statuses) out.event('gpuStatus', { ...s });
    for (const line of statusTable(statuses, out.c)) out.print(line);
    return EXIT_OK;
  }
  return watch(out, info.deviceCount, o.interval ?? 1000);
}

/** Runs `monitor` until `done` resolves or Ctrl-C; a monitor alone does not keep the process alive, so a timer does. */
async function runMonitor(monitor: GPUMonitor, until: Promise<void>): Promise<number> {
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let signal: 'SIGINT' | 'SIGTERM' | null = null;
  let stopNow: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => (stopNow = resolve));
  const release = onInterrupt((s) => {
    signal = s;
    stopNow();
  });
  try {
    monitor.start();
    await Promise.race([until, interrupted]);
  } finally {
    await monitor.stop();
    clearInterval(keepAlive);
    release();
  }
  return signal ? exitCodeFor(signal) : EXIT_OK;
}

async function watch(out: Output, deviceCount: number, interval: number): Promise<number> {
  const deviceIndices = Array.from({ length: deviceCount }, (_, i) => i);
  const monitor = new GPUMonitor({ deviceIndices, config: { checkIntervalMs: interval, logWarnings: false } });
  const latest = new Map<number, GPUStatus>();
  const redraw = out.human && out.stdout.isTTY === true;
  let drawnLines = 0;
  let pending = new Set<number>(deviceIndices);
  const render = (): void => {
    const statuses = deviceIndices.map((i) => latest.get(i)).filter((s): s is GPUStatus => s !== undefined);
    const lines = [out.c.dim(`${new Date().toLocaleTimeString()}  every ${interval} ms, Ctrl-C to stop`), ...statusTable(statuses, out.c)];
    if (redraw && drawnLines > 0) out.stdout.write(`\x1b[${drawnLines}A\x1b[0J`);
    for (const line of lines) out.print(line);
    if (!redraw) out.print();
    drawnLines = lines.length;
  };
  monitor.on('status', (s: GPUStatus) => {
    out.event('gpuStatus', { ...s });
    latest.set(s.deviceIndex, s);
    pending.delete(s.deviceIndex);
    if (pending.size === 0) {
      pending = new Set(deviceIndices);
      render();
    }
  });
  monitor.on('readError', (e: GPUReadErrorEvent) => {
    out.event('gpuReadError', { deviceIndex: e.deviceIndex, consecutiveFailures: e.consecutiveFailures, thermalSafetyDisabled: e.thermalSafetyDisabled, message: e.error.message });
    out.warn(`GPU ${e.deviceIndex} read failed (${e.consecutiveFailures} in a row): ${e.error.message}`);
    pending.delete(e.deviceIndex);
  });
  return runMonitor(monitor, new Promise<void>(() => undefined));
}

async function simulate(out: Output, name: string, interval: number): Promise<number> {
  const scenario = SCENARIOS[name]!;
  const samples = scenario.readings.length;
  const monitor = new GPUMonitor({ source: scriptedGPUSource(scenario.readings), config: { checkIntervalMs: interval, logWarnings: false } });
  const c = out.c;
  out.event('simulationStart', { scenario: name, description: scenario.description, samples, intervalMs: interval });
  out.print(`${c.bold('Simulating')} '${name}': ${scenario.description} (${samples} samples every ${interval} ms, through the GPU monitor)`);
  let seen = 0;
  let startedAt: number | null = null;
  let worst: GPUStatus | null = null;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const elapsed = (t: number): string => {
    startedAt ??= t;
    return c.dim(`+${((t - startedAt) / 1000).toFixed(2)}s`.padStart(8));
  };
  const counted = (): void => {
    seen++;
    if (seen === samples) finish();
  };
  monitor.on('status', (s: GPUStatus) => {
    if (seen >= samples) return;
    out.event('gpuStatus', { ...s, sample: seen + 1 });
    out.print(`${elapsed(s.timestamp)}  ${statusLine(s, c)}`);
    if (!worst || conditionSeverity(s.condition) > conditionSeverity(worst.condition)) worst = s;
    counted();
  });
  monitor.on('readError', (e: GPUReadErrorEvent) => {
    if (seen >= samples) return;
    out.event('gpuReadError', { sample: seen + 1, deviceIndex: e.deviceIndex, consecutiveFailures: e.consecutiveFailures, thermalSafetyDisabled: e.thermalSafetyDisabled, message: e.error.message });
    const disabled = e.thermalSafetyDisabled ? c.red(' thermal safety DISABLED') : '';
    out.print(`${elapsed(Date.now())}  [${e.deviceIndex}] ${c.yellow('read failed')} (${e.consecutiveFailures} in a row): ${e.error.message}${disabled}`);
    counted();
  });
  monitor.on('recovered', (r: { afterFailures: number; deviceIndex: number }) => {
    out.event('gpuRecovered', { deviceIndex: r.deviceIndex, afterFailures: r.afterFailures });
    out.print(`${elapsed(Date.now())}  [${r.deviceIndex}] ${c.green('readable again')} after ${r.afterFailures} failed reads`);
  });
  const code = await runMonitor(monitor, done);
  const w = worst as GPUStatus | null;
  out.event('simulationEnd', { scenario: name, samples: seen, worstCondition: w ? w.condition : null, interrupted: code !== EXIT_OK });
  if (code === EXIT_OK) out.print(`Scenario finished: ${seen} samples, worst condition ${w ? fmtCondition(w.condition, c) : '-'}.`);
  return code;
}
