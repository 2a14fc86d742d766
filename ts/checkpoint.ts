/**
 * Reads and verifies checkpoint folders written by the native engine
 * (layout: native/engine/checkpoint.hpp). Every byte is checked before use:
 * trainer_state.json's own checksum, each tensor file's SHA-256 and size, and
 * the safetensors headers (dtype, shapes, offsets inside the file). Anything
 * wrong is CHECKPOINT_CORRUPT, with what was wrong.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { NativeModelConfig } from '../binding';
import { BackpropError } from './errors';

export interface CheckpointConfig {
  model: NativeModelConfig;
  optimizer: 'adamw' | 'sgd';
  learningRate: number;
  weightDecay: number;
  momentum: number;
  gradientClipNorm: number;
  seed: number;
}

export interface CheckpointRunPosition {
  runId: string;
  step: number;
  epoch: number;
  stepInEpoch: number;
  shuffleRngState: number[];
  samplesSeen: number;
  learningRate: number;
  loss: number;
  batchSize: number;
  shuffle: boolean;
  validationSplit: number;
  epochs: number;
  maxSteps: number;
  resumedFrom: string | null;
  lossHistory: number[];
}

export interface LoadedCheckpoint {
  path: string;
  config: CheckpointConfig;
  params: Float32Array;
  optimizerM: Float32Array;
  optimizerV: Float32Array;
  optimizerStep: number;
  run: CheckpointRunPosition | null;
}

const corrupt = (folder: string, what: string, details: Record<string, unknown> = {}): BackpropError =>
  new BackpropError('CHECKPOINT_CORRUPT', `Checkpoint '${folder}' is corrupt: ${what}. Use another checkpoint, or retrain.`, { path: folder, ...details });

export function parameterLayout(model: NativeModelConfig): Array<{ name: string; shape: number[]; offset: number; count: number }> {
  const out: Array<{ name: string; shape: number[]; offset: number; count: number }> = [];
  let inSize = model.inputSize;
  let offset = 0;
  const sizes = [...model.hiddenLayers, model.outputSize];
  sizes.forEach((outSize, i) => {
    out.push({ name: `layers.${i}.weight`, shape: [outSize, inSize], offset, count: outSize * inSize });
    offset += outSize * inSize;
    out.push({ name: `layers.${i}.bias`, shape: [outSize], offset, count: outSize });
    offset += outSize;
    inSize = outSize;
  });
  return out;
}

export function parameterCount(model: NativeModelConfig): number {
  const layout = parameterLayout(model);
  const last = layout[layout.length - 1];
  return last.offset + last.count;
}

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Parses a safetensors buffer into its named float32 tensors (copies, aligned). */
export function parseSafetensors(bytes: Buffer, folder: string, file: string): Map<string, { shape: number[]; data: Float32Array }> {
  if (bytes.length < 8) throw corrupt(folder, `${file} is ${bytes.length} bytes, shorter than a safetensors header`, { file });
  const headerLength = bytes.readBigUInt64LE(0);
  if (headerLength > BigInt(bytes.length - 8) || headerLength > 100_000_000n) {
    throw corrupt(folder, `${file} declares a ${headerLength}-byte header in a ${bytes.length}-byte file`, { file });
  }
  const dataStart = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, dataStart).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw corrupt(folder, `${file} has an unreadable header (${(error as Error).message})`, { file });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt(folder, `${file} header is not an object`, { file });
  const dataLength = bytes.length - dataStart;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = raw as TensorEntry;
    if (typeof entry !== 'object' || entry === null || entry.dtype !== 'F32' || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) {
      throw corrupt(folder, `${file} tensor '${name}' is not a float32 tensor entry`, { file, tensor: name });
    }
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a: number, b: unknown) => a * (Number.isInteger(b) && (b as number) >= 0 ? (b as number) : NaN), 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end > dataLength || end - begin !== count * 4) {
      throw corrupt(folder, `${file} tensor '${name}' has offsets [${begin}, ${end}] that do not fit its shape or the file`, { file, tensor: name });
    }
    const data = new Float32Array(count);
    Buffer.from(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    out.set(name, { shape: entry.shape, data });
  }
  return out;
}

async function readFileOrThrow(folder: string, file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path.join(folder, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw corrupt(folder, `${file} is missing`, { file });
    throw corrupt(folder, `${file} cannot be read (${(error as Error).message})`, { file });
  }
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function assembleFlat(tensors: Map<string, { shape: number[]; data: Float32Array }>, model: NativeModelConfig, suffix: string, folder: string, file: string): Float32Array {
  const layout = parameterLayout(model);
  const flat = new Float32Array(parameterCount(model));
  for (const t of layout) {
    const name = t.name + suffix;
    const tensor = tensors.get(name);
    if (!tensor) throw corrupt(folder, `${file} has no tensor '${name}'`, { file, tensor: name });
    if (tensor.shape.length !== t.shape.length || tensor.shape.some((d, i) => d !== t.shape[i])) {
      throw corrupt(folder, `${file} tensor '${name}' has shape [${tensor.shape}] but the model needs [${t.shape}]`, { file, tensor: name });
    }
    flat.set(tensor.data, t.offset);
  }
  return flat;
}

function checkModelConfig(value: unknown, folder: string): NativeModelConfig {
  const m = value as NativeModelConfig;
  const okInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;
  if (
    typeof m !== 'object' || m === null || !okInt(m.inputSize) || !okInt(m.outputSize) || !Array.isArray(m.hiddenLayers) ||
    !m.hiddenLayers.every(okInt) || !['relu', 'tanh', 'gelu'].includes(m.activation) || !['classification', 'regression'].includes(m.task)
  ) {
    throw corrupt(folder, 'trainer_state.json has an invalid model configuration');
  }
  return { inputSize: m.inputSize, hiddenLayers: [...m.hiddenLayers], outputSize: m.outputSize, activation: m.activation, task: m.task };
}

export async function readCheckpoint(folder: string): Promise<LoadedCheckpoint> {
  const resolved = path.resolve(folder);
  try {
    const st = await fsp.stat(resolved);
    if (!st.isDirectory()) throw new Error('not a folder');
  } catch {
    throw new BackpropError('CHECKPOINT_NOT_FOUND', `No checkpoint folder at '${folder}'. Pass a folder such as output/checkpoint-100 that holds trainer_state.json.`, { path: folder });
  }
  const stateBytes = await readFileOrThrow(resolved, 'trainer_state.json');
  const text = stateBytes.toString('utf8');
  let state: Record<string, any>;
  try {
    state = JSON.parse(text) as Record<string, any>;
  } catch (error) {
    throw corrupt(folder, `trainer_state.json is not valid JSON (${(error as Error).message})`);
  }
  if (state?.format !== 'backpropagate-checkpoint' || state.version !== 1) throw corrupt(folder, 'trainer_state.json is not a version 1 backpropagate checkpoint');
  const recorded = state.checksum;
  if (typeof recorded !== 'string' || !/^[0-9a-f]{64}$/.test(recorded)) throw corrupt(folder, 'trainer_state.json has no checksum');
  const blanked = text.replace(`"checksum":"${recorded}"`, '"checksum":""');
  if (sha256(blanked) !== recorded) throw corrupt(folder, 'trainer_state.json does not match its checksum (it was edited or damaged)');

  const config = state.config as Record<string, any>;
  if (typeof config !== 'object' || config === null) throw corrupt(folder, 'trainer_state.json has no config');
  const model = checkModelConfig(config.model, folder);
  const files = state.files as Record<string, { sha256: string; bytes: number }>;
  const tensorsOf = async (file: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> => {
    const expected = files?.[file];
    if (!expected) throw corrupt(folder, `trainer_state.json does not list ${file}`, { file });
    const bytes = await readFileOrThrow(resolved, file);
    if (bytes.length !== expected.bytes) throw corrupt(folder, `${file} is ${bytes.length} bytes but ${expected.bytes} were written (truncated?)`, { file });
    if (sha256(bytes) !== expected.sha256) throw corrupt(folder, `${file} does not match its SHA-256 checksum`, { file });
    return parseSafetensors(bytes, folder, file);
  };
  const optimizer = config.optimizer === 'sgd' ? 'sgd' : 'adamw';
  const params = assembleFlat(await tensorsOf('model.safetensors'), model, '', folder, 'model.safetensors');
  const optTensors = await tensorsOf('optimizer.safetensors');
  const optimizerM = assembleFlat(optTensors, model, optimizer === 'adamw' ? '.exp_avg' : '.momentum_buffer', folder, 'optimizer.safetensors');
  const optimizerV = optimizer === 'adamw' ? assembleFlat(optTensors, model, '.exp_avg_sq', folder, 'optimizer.safetensors') : new Float32Array(0);
  const run = state.run as CheckpointRunPosition | null;
  if (run !== null && (typeof run !== 'object' || !Array.isArray(run.lossHistory) || !Array.isArray(run.shuffleRngState) || run.shuffleRngState.length !== 4)) {
    throw corrupt(folder, 'trainer_state.json has an invalid run position');
  }
  return {
    path: resolved,
    config: {
      model,
      optimizer,
      learningRate: Number(config.learningRate),
      weightDecay: Number(config.weightDecay),
      momentum: Number(config.momentum),
      gradientClipNorm: Number(config.gradientClipNorm),
      seed: Number(config.seed),
    },
    params,
    optimizerM,
    optimizerV,
    optimizerStep: Number(state.optimizerState?.step ?? 0),
    run,
  };
}
