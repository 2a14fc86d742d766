/** `backprop evaluate`: loss and accuracy of a checkpoint on labelled data. */
import type { Command } from 'commander';
import { Trainer } from '../../trainer';
import { action } from '../command';
import { loadLabelledFor } from '../data';
import { EXIT_OK } from '../errors';
import { resolveCheckpoint } from '../files';
import { fmtInt, fmtLoss, fmtPercent, fmtShape, keyValues } from '../format';
import type { Output } from '../output';

const EXAMPLES = `
Examples:
  $ backprop evaluate runs/iris/checkpoint-400 test.csv
  $ backprop evaluate runs/iris test.csv --label species --json

The data needs the model's input columns plus the label column(s).`;

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .summary('loss and accuracy of a checkpoint on labelled data')
    .description('Compute the loss (and, for classification, the accuracy) of a checkpoint on a labelled data file.')
    .argument('<checkpoint>', 'checkpoint folder, or a training --output folder (its latest checkpoint)')
    .argument('<data>', 'labelled data file (.csv, .tsv, .jsonl, .ndjson)')
    .option('--label <column>', 'label column (default: the last column)')
    .addHelpText('after', EXAMPLES)
    .action(action<{ label?: string }>((out, args, o) => evaluate(out, args[0]!, args[1]!, o.label)));
}

async function evaluate(out: Output, target: string, file: string, label: string | undefined): Promise<number> {
  const folder = await resolveCheckpoint(target);
  const trainer = await Trainer.load(folder);
  const model = trainer.options.model;
  const data = await loadLabelledFor(file, model, label);
  const result = trainer.evaluate({ x: data.x, y: data.y });
  const correct = result.accuracy !== null ? Math.round(result.accuracy * data.rows) : null;
  out.event('evaluation', { checkpoint: folder, data: file, rows: data.rows, loss: result.loss, accuracy: result.accuracy, task: model.task });
  const c = out.c;
  out.print(`${c.bold('Evaluated')} ${folder} (${fmtShape(model)} ${model.task}) on ${file}`);
  const pairs: Array<[string, string]> = [
    ['rows', fmtInt(data.rows)],
    ['loss', `${c.bold(fmtLoss(result.loss))} (${model.task === 'regression' ? 'mean squared error' : 'cross-entropy'})`],
  ];
  if (result.accuracy !== null) pairs.push(['accuracy', `${c.bold(fmtPercent(result.accuracy, 2))} (${fmtInt(correct!)} / ${fmtInt(data.rows)})`]);
  for (const line of keyValues(pairs, c)) out.print(line);
  return EXIT_OK;
}
