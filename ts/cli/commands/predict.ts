/** `backprop predict`: a checkpoint's predictions for every row of a file, as CSV. */
import type { Command } from 'commander';
import { Trainer } from '../../trainer';
import { action } from '../command';
import { loadFeaturesFor } from '../data';
import { EXIT_OK } from '../errors';
import { resolveCheckpoint, writeFileAtomic } from '../files';
import { fmtInt } from '../format';
import type { Output } from '../output';

const EXAMPLES = `
Examples:
  $ backprop predict runs/iris/checkpoint-400 new.csv --output predictions.csv
  $ backprop predict runs/iris new.csv | head

The data holds the model's input columns; a label column, if present, is ignored.
Classification: class,prob_0,prob_1,...  Regression: value (value_0,value_1,... for several targets).
--output is written atomically (a temporary file renamed into place); without it the CSV goes to stdout.`;

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .summary('predictions of a checkpoint for every row of a file, as CSV')
    .description('Write a checkpoint\'s predictions for every row of a data file as CSV: the class and its probabilities (classification) or the values (regression).')
    .argument('<checkpoint>', 'checkpoint folder, or a training --output folder (its latest checkpoint)')
    .argument('<data>', 'data file (.csv, .tsv, .jsonl, .ndjson)')
    .option('--output <file>', 'write the CSV here (atomically) instead of stdout')
    .option('--label <column>', 'a label column to ignore (default: the last column when the file has one more column than the model takes)')
    .addHelpText('after', EXAMPLES)
    .action(action<{ output?: string; label?: string }>((out, args, o) => predict(out, args[0]!, args[1]!, o)));
}

const num = (v: number): string => String(Number(v.toPrecision(7)));

async function predict(out: Output, target: string, file: string, o: { output?: string; label?: string }): Promise<number> {
  const folder = await resolveCheckpoint(target);
  const trainer = await Trainer.load(folder);
  const model = trainer.options.model;
  const data = await loadFeaturesFor(file, model, o.label);
  const outputs = trainer.predict(data.x);
  const k = model.outputSize;
  const classification = model.task === 'classification';
  const header = classification
    ? ['class', ...Array.from({ length: k }, (_, i) => `prob_${i}`)]
    : k === 1 ? ['value'] : Array.from({ length: k }, (_, i) => `value_${i}`);

  const rowValues = (r: number): { cls: number | null; values: number[] } => {
    const values = Array.from(outputs.subarray(r * k, (r + 1) * k));
    if (!classification) return { cls: null, values };
    let best = 0;
    for (let i = 1; i < k; i++) if (values[i]! > values[best]!) best = i;
    return { cls: best, values };
  };
  function* csv(): Generator<string> {
    yield header.join(',') + '\n';
    let chunk = '';
    for (let r = 0; r < data.rows; r++) {
      const { cls, values } = rowValues(r);
      chunk += (cls !== null ? `${cls},` : '') + values.map(num).join(',') + '\n';
      if (chunk.length >= 1 << 16) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) yield chunk;
  }

  if (o.output) {
    await writeFileAtomic(o.output, csv());
    out.event('predictions', { checkpoint: folder, data: file, rows: data.rows, output: o.output, columns: header });
    out.log(`${out.ce.green('✔')} ${fmtInt(data.rows)} predictions written to ${o.output} (${header.join(',')})`);
    return EXIT_OK;
  }
  if (out.json) {
    for (let r = 0; r < data.rows; r++) {
      const { cls, values } = rowValues(r);
      out.event('prediction', classification ? { row: r, class: cls, probabilities: values } : { row: r, values });
    }
    return EXIT_OK;
  }
  for (const chunk of csv()) out.data(chunk);
  return EXIT_OK;
}
