/**
 * Reading a data file as lines: streamed in chunks, so a large file never
 * exists as one string, and read failures turned into BackpropErrors that
 * say what to check.
 */
import { createReadStream } from 'node:fs';
import { isBackpropError } from '../errors';
import { fileReadError, type FileKind } from '../file-errors';

const READ_CHUNK_BYTES = 1 << 20;
const DATA_FILE: FileKind = { noun: 'Data file', withArticle: 'a data file', folderHint: 'Pass the path of a .csv or .jsonl file.' };

/**
 * Calls onLine for every line of the file (without its \n or \r\n), numbered
 * from 1. Errors thrown by onLine stop the read and close the file.
 */
export async function forEachLine(path: string, onLine: (line: string, lineNumber: number) => void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: READ_CHUNK_BYTES });
  // Pieces of a line that spans chunks, joined once the line ends (avoids repeated concatenation).
  let pending: string[] = [];
  let lineNumber = 0;
  const emit = (line: string): void => {
    lineNumber++;
    if (lineNumber === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 byte order mark
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line, lineNumber);
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let start = 0;
      for (let newline = chunk.indexOf('\n'); newline >= 0; newline = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, newline);
        if (pending.length > 0) {
          pending.push(piece);
          emit(pending.join(''));
          pending = [];
        } else {
          emit(piece);
        }
        start = newline + 1;
      }
      if (start < chunk.length) pending.push(chunk.slice(start));
    }
  } catch (error) {
    if (isBackpropError(error)) throw error;
    throw fileReadError(path, error, DATA_FILE);
  } finally {
    stream.destroy();
  }
  if (pending.length > 0) emit(pending.join(''));
}

/** Whitespace-only lines carry no data and are skipped wherever they are (typically trailing newlines). */
export function isBlank(line: string, separator: string): boolean {
  if (line.length === 0) return true;
  // A tab-separated row of empty cells is a malformed row, not a blank line.
  return line.charCodeAt(0) <= 32 && line.trim() === '' && !(separator === '\t' && line.includes('\t'));
}
