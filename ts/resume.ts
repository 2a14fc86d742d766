/**
 * Reads a checkpoint folder as the point a run resumes from (train option
 * `resumeFrom`): checks that it was written by a run of the same model,
 * optimizer and data schedule, and turns it into the engine's resume state.
 */
import type { NativeResumeState } from '../binding';
import { readCheckpoint, type LoadedCheckpoint } from './checkpoint';
import type { ResolvedTrainerOptions, ResolvedTrainOptions } from './config';
import { BackpropError } from './errors';

export interface ResumePoint {
  state: NativeResumeState;
  checkpoint: LoadedCheckpoint;
}

export async function loadResumePoint(folder: string, trainer: Readonly<ResolvedTrainerOptions>, opts: ResolvedTrainOptions): Promise<ResumePoint> {
  const ckpt = await readCheckpoint(folder);
  const mine = trainer.model;
  const theirs = ckpt.config.model;
  const sameModel =
    mine.inputSize === theirs.inputSize && mine.outputSize === theirs.outputSize && mine.activation === theirs.activation &&
    mine.task === theirs.task && mine.hiddenLayers.length === theirs.hiddenLayers.length &&
    mine.hiddenLayers.every((h, i) => h === theirs.hiddenLayers[i]);
  if (!sameModel || ckpt.config.optimizer !== trainer.optimizer) {
    throw new BackpropError(
      'CHECKPOINT_INCOMPATIBLE',
      `Checkpoint '${folder}' holds a ${theirs.inputSize}-[${theirs.hiddenLayers}]-${theirs.outputSize} ${theirs.activation} model with ${ckpt.config.optimizer}, ` +
        `but this trainer is ${mine.inputSize}-[${mine.hiddenLayers}]-${mine.outputSize} ${mine.activation} with ${trainer.optimizer}. Use Trainer.load() or the same options.`,
      { path: folder },
    );
  }
  const run = ckpt.run;
  if (!run) {
    throw new BackpropError('CHECKPOINT_INCOMPATIBLE', `Checkpoint '${folder}' was written by save() and has no run position to resume. Load it with Trainer.load() and start a new run.`, { path: folder });
  }
  if (run.batchSize !== opts.batchSize || run.validationSplit !== opts.validationSplit || run.shuffle !== opts.shuffle) {
    throw new BackpropError(
      'CHECKPOINT_INCOMPATIBLE',
      `Checkpoint '${folder}' was trained with batchSize ${run.batchSize}, validationSplit ${run.validationSplit}, shuffle ${run.shuffle}; ` +
        `resume with the same values to continue the same run.`,
      { path: folder, field: 'batchSize' },
    );
  }
  return {
    checkpoint: ckpt,
    state: {
      params: ckpt.params,
      optimizerM: ckpt.optimizerM,
      optimizerV: ckpt.optimizerV,
      optimizerStep: ckpt.optimizerStep,
      step: run.step,
      epoch: run.epoch,
      stepInEpoch: run.stepInEpoch,
      shuffleRngState: run.shuffleRngState,
      samplesSeen: run.samplesSeen,
      lossHistory: Float64Array.from(run.lossHistory),
      learningRate: run.learningRate,
    },
  };
}
