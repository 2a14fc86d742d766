/**
 * Turns what a caller passes to train() (typed arrays, or the path of a
 * CSV/JSONL/IDX file) into the checked arrays the native engine trains on.
 * Shared by Trainer and MultiRunTrainer so both read files the same way.
 */
import { loadDataFile } from './data-files/load';
import { prepareData, toClassLabels, type DataModel, type PreparedData, type TensorData } from './data';
import { BackpropError } from './errors';

export interface TrainingDataOptions {
  /** The label column of a CSV/JSONL file (null: the last one). */
  label: string | null;
  /** The IDX labels file that goes with an IDX images file. */
  labels?: string | null;
}

export async function loadTrainingData(data: TensorData | string, model: DataModel, options: TrainingDataOptions): Promise<PreparedData> {
  if (typeof data !== 'string') return prepareData(data, model);
  const file = await loadDataFile(data, { label: options.label, labels: options.labels ?? null, labelCount: model.task === 'regression' ? model.outputSize : 1 });
  if (file.featureNames.length !== model.inputSize) {
    throw new BackpropError(
      'INPUT_SHAPE_MISMATCH',
      `${data} has ${file.featureNames.length} feature columns (${file.featureNames.join(', ')}) but the model's inputSize is ${model.inputSize}. ` +
        `Set model.inputSize to ${file.featureNames.length} or pick the label column with the label option.`,
      { field: 'model.inputSize', expected: model.inputSize, actual: file.featureNames.length },
    );
  }
  if (model.task === 'regression') return prepareData({ x: file.x, y: file.y }, model);
  return prepareData({ x: file.x, y: toClassLabels(file.y, model.outputSize) }, model);
}
