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
import { native } from './native';

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

/**
 * Parses a safetensors buffer into its named float32 tensors (copies, aligned).
 * The bytes are validated by the native reader (native/engine/checkpoint_reader.cpp,
 * which is fuzzed): header size, JSON, dtype, shapes and offsets.
 */
export function parseSafetensors(bytes: Buffer, folder: string, file: string): Map<string, { shape: number[]; data: Float32Array }> {
  let layout: ReturnType<ReturnType<typeof native>['parseSafetensors']>;
  try {
    layout = native().parseSafetensors(bytes);
  } catch (error) {
    throw corrupt(folder, `${file}: ${(error as Error).message}`, { file });
  }
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of layout.tensors) {
    const data = new Float32Array((t.end - t.begin) / 4);
    Buffer.from(data.buffer).set(bytes.subarray(layout.dataStart + t.begin, layout.dataStart + t.end));
    out.set(t.name, { shape: t.shape, data });
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
  // Native check first (fuzzed): JSON, format, version and the self checksum.
  try {
    native().verifyTrainerState(text);
  } catch (error) {
    throw corrupt(folder, (error as Error).message.replace(/^trainer_state\.json /, 'trainer_state.json '));
  }
  const state = JSON.parse(text) as Record<string, any>;

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
