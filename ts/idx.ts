/**
 * Reads IDX files, the format of MNIST and Fashion-MNIST: plain, or gzip'd
 * (recognised by the gzip magic bytes, whatever the file is called).
 *
 * Layout (all integers big-endian): two zero bytes, a type byte, a dimension
 * count d, then d unsigned 32-bit sizes, then the product of the sizes in
 * values of that type, row by row. The file must hold exactly that many
 * bytes: a short file is truncated, a longer one is not what its header says.
 *
 * Every rejection is a BackpropError 'INPUT_PARSE' whose details.offset is
 * the byte offset of the problem in the IDX data (for a gzip'd file: in the
 * decompressed data, which is what the header describes), so the person
 * fixing the file can look at the right byte.
 */
import { readFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { BackpropError } from './errors';
import { fileReadError, type FileKind } from './file-errors';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export interface IdxArray {
  /** Element type from the header's type byte. */
  type: IdxType;
  /** Sizes of every dimension, outermost first (for images: count, rows, columns). */
  dims: number[];
  /** The values in file order, in the typed array that matches the type byte. */
  values: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
  /** Byte offset of the first value (header size), for offsets in later checks. */
  dataOffset: number;
  /** Bytes per value. */
  elementSize: number;
  /** Whether the file was gzip'd. */
  compressed: boolean;
}

interface TypeInfo {
  type: IdxType;
  size: number;
}

/** The type byte (third byte of the header) and what it means. */
const TYPES: Readonly<Record<number, TypeInfo>> = {
  0x08: { type: 'uint8', size: 1 },
  0x09: { type: 'int8', size: 1 },
  0x0b: { type: 'int16', size: 2 },
  0x0c: { type: 'int32', size: 4 },
  0x0d: { type: 'float32', size: 4 },
  0x0e: { type: 'float64', size: 8 },
};

const HEADER_FIXED_BYTES = 4;
/** More dimensions than any real IDX file uses; a larger count means the file is not IDX. */
const MAX_DIMENSIONS = 16;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

const gunzip = promisify(zlib.gunzip);

/** Reads and checks one IDX file. */
export async function readIdx(path: string): Promise<IdxArray> {
  const raw = await readRaw(path);
  const compressed = raw.length >= 2 && raw[0] === GZIP_MAGIC_0 && raw[1] === GZIP_MAGIC_1;
  const bytes = compressed ? await decompress(path, raw) : raw;
  return parseIdx(bytes, path, compressed);
}

/** Checks an IDX image in memory; `path` only names the file in messages. */
export function parseIdx(bytes: Uint8Array, path: string, compressed = false): IdxArray {
  const name = nodePath.basename(path);
  const where = compressed ? ' (offsets count decompressed bytes)' : '';
  const fail = (offset: number, problem: string, extra: Record<string, unknown> = {}): BackpropError =>
    new BackpropError('INPUT_PARSE', `${name}: ${problem}`, { path, offset, compressed, ...extra });
  const notIdx = 'Pass an IDX file such as train-images-idx3-ubyte.gz (plain or gzip\'d).';

  if (bytes.length < HEADER_FIXED_BYTES) {
    throw fail(bytes.length, `the file is ${bytes.length} bytes long, shorter than the 4-byte IDX header${where}. The file is truncated or empty: download it again.`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const found = hex(bytes[0]!) + hex(bytes[1]!).slice(2);
    throw fail(bytes[0] !== 0 ? 0 : 1, `starts with ${found}, not the IDX magic 0x0000${where}, so it is not an IDX file. ${notIdx}`, { found });
  }
  const info = TYPES[bytes[2]!];
  if (info === undefined) {
    throw fail(
      2,
      `type byte ${hex(bytes[2]!)} is not an IDX type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)${where}. ` +
        `The file is damaged or not an IDX file. ${notIdx}`,
      { found: bytes[2] },
    );
  }
  const dimensionCount = bytes[3]!;
  if (dimensionCount === 0 || dimensionCount > MAX_DIMENSIONS) {
    throw fail(3, `dimension count ${dimensionCount} is not between 1 and ${MAX_DIMENSIONS}${where}. The file is damaged or not an IDX file. ${notIdx}`, {
      found: dimensionCount,
    });
  }
  const dataOffset = HEADER_FIXED_BYTES + 4 * dimensionCount;
  if (bytes.length < dataOffset) {
    throw fail(
      bytes.length,
      `the header declares ${dimensionCount} dimensions (${dataOffset} header bytes) but the file ends after ${bytes.length} bytes${where}. ` +
        `The file is truncated: download it again.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < dimensionCount; d++) {
    const size = view.getUint32(HEADER_FIXED_BYTES + 4 * d, false);
    dims.push(size);
    count *= size; // exact while below 2^53, and anything near that fails the length check below
  }
  const expected = dataOffset + count * info.size;
  if (bytes.length !== expected) {
    const short = bytes.length < expected;
    const shape = `${dims.join(' x ')} ${info.type} values`;
    throw fail(
      short ? bytes.length : expected,
      short
        ? `the header promises ${shape} (${expected} bytes) but the file ends after ${bytes.length} bytes${where}. The file is truncated: download it again.`
        : `the header promises ${shape} (${expected} bytes) but the file has ${bytes.length - expected} more bytes after them${where}. ` +
            `The header does not match the data: the file is damaged or not an IDX file.`,
      { dims, expectedBytes: expected, actualBytes: bytes.length },
    );
  }
  return { type: info.type, dims, values: decodeValues(bytes, dataOffset, count, info.type), dataOffset, elementSize: info.size, compressed };
}

/** Byte offset, in the IDX data, of value number `index` (for error details). */
export function valueOffset(array: IdxArray, index: number): number {
  return array.dataOffset + index * array.elementSize;
}

/** The values as typed numbers; multi-byte types are big-endian in the file. */
function decodeValues(bytes: Uint8Array, offset: number, count: number, type: IdxType): IdxArray['values'] {
  if (type === 'uint8') return bytes.subarray(offset, offset + count);
  if (type === 'int8') return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.byteLength - offset);
  switch (type) {
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false);
      return out;
    }
    default: {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false);
      return out;
    }
  }
}

const IDX_FILE: FileKind = { noun: 'IDX file', withArticle: 'an IDX file', folderHint: 'Pass the path of the file itself.', parseDetails: { offset: 0 } };

async function readRaw(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw fileReadError(path, error, IDX_FILE);
  }
}

/**
 * Gunzips the whole file. A damaged or cut-off stream is decompressed again as
 * far as it goes, so the error can say how many IDX bytes were intact.
 */
async function decompress(path: string, raw: Buffer): Promise<Buffer> {
  try {
    return await gunzip(raw);
  } catch (error) {
    let intact = 0;
    try {
      intact = (await gunzip(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH })).length;
    } catch {
      // Corrupt rather than cut short: nothing reliable was decompressed.
    }
    throw new BackpropError(
      'INPUT_PARSE',
      `${nodePath.basename(path)}: the gzip data is damaged or cut short after ${intact} decompressed bytes ` +
        `(${error instanceof Error ? error.message : String(error)}). Download the file again, or check it with \`gzip -t\`.`,
      { path, offset: intact, compressed: true },
      { cause: error },
    );
  }
}

function hex(byte: number): string {
  return `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}
