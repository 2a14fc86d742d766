'use strict';
// Builds the stub NVML library (native/stub-nvml) for the GPU tests and writes
// its script files.
//
// buildStubNvml() -> { modern, legacy, nov3 }: absolute paths of the three
// libnvidia-ml.so.1 variants under build/stub-nvml-test/<variant>/. The build
// runs once per process, and not at all when the libraries are newer than the
// stub's sources. It happens in a private temporary build folder; the results
// are then copied into place with a rename (BP_STUB_NVML_OUT_DIR overrides
// the output folder), so two test processes building at
// the same time cannot hand each other a half-written library.
//
// When cmake or a C compiler is missing, buildStubNvml() throws an Error with
// code 'STUB_NVML_UNAVAILABLE' and a `reason`; stubOrSkip(this) turns that into
// a printed reason and this.skip() for mocha tests and hooks.
//
// writeStubScript(file, lines) writes a script (lines: array of 'key=value'
// strings, or one string) atomically: a temp file in the same folder, then
// rename() over the target, so a reader never sees a partial file.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const SOURCE_DIR = path.join(ROOT, 'native', 'stub-nvml');
const OUT_DIR = process.env.BP_STUB_NVML_OUT_DIR || path.join(ROOT, 'build', 'stub-nvml-test');
const VARIANTS = ['modern', 'legacy', 'nov3'];

let cached = null; // { paths } or { error }

function outputPaths() {
  const out = {};
  for (const v of VARIANTS) out[v] = path.join(OUT_DIR, v, 'libnvidia-ml.so.1');
  return out;
}

function newestSourceMtime() {
  let newest = 0;
  for (const name of fs.readdirSync(SOURCE_DIR)) {
    const st = fs.statSync(path.join(SOURCE_DIR, name));
    if (st.isFile()) newest = Math.max(newest, st.mtimeMs);
  }
  // This helper decides how the stub is built: changing it rebuilds too.
  return Math.max(newest, fs.statSync(__filename).mtimeMs);
}

function upToDate(paths) {
  const sourceTime = newestSourceMtime();
  return VARIANTS.every((v) => {
    try {
      return fs.statSync(paths[v]).mtimeMs >= sourceTime;
    } catch {
      return false;
    }
  });
}

function unavailable(reason) {
  const error = new Error(`stub NVML library unavailable: ${reason}`);
  error.code = 'STUB_NVML_UNAVAILABLE';
  error.reason = reason;
  return error;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000 });
  if (r.error) {
    if (r.error.code === 'ENOENT') throw unavailable(`'${cmd}' is not installed (needed to build native/stub-nvml)`);
    throw unavailable(`${cmd} ${args.join(' ')} failed: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const all = `${r.stdout || ''}\n${r.stderr || ''}`.trim();
    const tail = all.split('\n').slice(-15).join('\n');
    const noCompiler = /No CMAKE_C_COMPILER could be found|Could not find compiler|CMAKE_C_COMPILER not set|CMAKE_C_COMPILER[\s\S]*not[\s\S]*found|is not able to compile a simple test program/i.test(all);
    throw unavailable(`${noCompiler ? 'no working C compiler: ' : ''}${cmd} ${args.join(' ')} exited with ${r.status}:\n${tail}`);
  }
  return r;
}

function build(paths) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-stub-nvml-build-'));
  try {
    run('cmake', ['-S', SOURCE_DIR, '-B', tmp, '-DCMAKE_BUILD_TYPE=Release']);
    run('cmake', ['--build', tmp, '--parallel', '2']);
    for (const v of VARIANTS) {
      const built = path.join(tmp, 'stub-nvml', v, 'libnvidia-ml.so.1');
      if (!fs.existsSync(built)) throw unavailable(`the build did not produce ${built}`);
      fs.mkdirSync(path.dirname(paths[v]), { recursive: true });
      const staging = `${paths[v]}.tmp-${process.pid}`;
      fs.copyFileSync(built, staging);
      fs.chmodSync(staging, 0o755);
      fs.renameSync(staging, paths[v]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** { modern, legacy, nov3 }: absolute paths of the stub libraries, built if needed. */
function buildStubNvml() {
  if (cached) {
    if (cached.error) throw cached.error;
    return { ...cached.paths };
  }
  const paths = outputPaths();
  try {
    if (!upToDate(paths)) build(paths);
    cached = { paths };
    return { ...paths };
  } catch (error) {
    cached = { error: error.code === 'STUB_NVML_UNAVAILABLE' ? error : unavailable(error.message) };
    throw cached.error;
  }
}

/**
 * For mocha tests and hooks (pass `this`): the stub paths, or, when the stub
 * cannot be built, prints why and skips.
 */
function stubOrSkip(ctx) {
  try {
    return buildStubNvml();
  } catch (error) {
    if (error.code !== 'STUB_NVML_UNAVAILABLE') throw error;
    console.log(`      (skipped: ${error.reason})`);
    ctx.skip();
    return null; // not reached: skip() throws
  }
}

let tmpCounter = 0;

/** Writes the stub's script file atomically (temp file + rename). */
function writeStubScript(file, lines) {
  const text = Array.isArray(lines) ? `${lines.join('\n')}\n` : String(lines);
  const tmp = `${file}.tmp-${process.pid}-${tmpCounter++}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

module.exports = { buildStubNvml, stubOrSkip, writeStubScript, STUB_NVML_OUT_DIR: OUT_DIR };
