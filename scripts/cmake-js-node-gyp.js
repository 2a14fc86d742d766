#!/usr/bin/env node
// prebuildify only knows how to spawn node-gyp; `npm run prebuild` points its
// --node-gyp option here. It accepts node-gyp's arguments (rebuild,
// --target=..., --arch=..., --release), builds with cmake-js into build/
// (N-API: one binary serves every Node version, so --target is not needed),
// and leaves build/Release/backpropagate.node where prebuildify looks.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const debug = args.includes('--debug');
const archArg = args.find((a) => a.startsWith('--arch='));
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
// compile (not rebuild): reuses an up-to-date build/ tree, so a prebuild after
// npm install only relinks.
const cmd = [cmakeJs, 'compile', '--out', 'build'];
if (debug) cmd.push('--debug');
if (archArg) cmd.push('--arch', archArg.slice('--arch='.length));
// The linker rewrites an existing output in place (same inode). A process
// that has build/Release/backpropagate.node or the CUDA library loaded (a
// test run calling `npm run prebuild`) would then run changed code and crash,
// at the latest in the library's exit handlers. Detach the loaded copies
// first: copy each to a fresh inode under the same name, so the build writes
// into files no running process maps.
const fs = require('node:fs');
const outDir = path.join(root, 'build', debug ? 'Debug' : 'Release');
for (const name of ['backpropagate.node', 'libbackpropagate_cuda.so']) {
  const file = path.join(outDir, name);
  if (!fs.existsSync(file)) continue;
  fs.copyFileSync(file, file + '.detached');
  fs.renameSync(file + '.detached', file);
}
const result = spawnSync(process.execPath, cmd, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status === null ? 1 : result.status);

// prebuildify then strips build/Release/backpropagate.node in place and moves
// it to prebuilds/. A process that has this very file loaded (a test run
// calling `npm run prebuild`) would crash when its mapped code changes, so
// hand prebuildify a fresh copy (new inode) and leave the loaded one intact.
const built = path.join(root, 'build', debug ? 'Debug' : 'Release', 'backpropagate.node');
fs.copyFileSync(built, built + '.fresh');
fs.renameSync(built + '.fresh', built);

// The CUDA backend is a separate library that the addon dlopens from its own
// folder; prebuildify only moves the .node file, so place the library in the
// prebuild folder here (stripped like the addon when asked). Written under a
// temporary name and renamed, so a process that has the old copy loaded keeps
// its mapping. Without nvcc no library is built: drop a stale copy, so the
// package never ships a backend from an older build.
const cudaLibrary = path.join(root, 'build', debug ? 'Debug' : 'Release', 'libbackpropagate_cuda.so');
const prebuildDir = path.join(root, 'prebuilds', `${process.env.PREBUILD_PLATFORM || process.platform}-${process.env.PREBUILD_ARCH || (archArg ? archArg.slice('--arch='.length) : process.arch)}`);
const shipped = path.join(prebuildDir, 'libbackpropagate_cuda.so');
if (fs.existsSync(cudaLibrary)) {
  fs.mkdirSync(prebuildDir, { recursive: true });
  fs.copyFileSync(cudaLibrary, shipped + '.tmp');
  if (process.env.PREBUILD_STRIP === '1') {
    const strip = spawnSync(process.env.PREBUILD_STRIP_BIN || 'strip', ['--strip-unneeded', shipped + '.tmp'], { stdio: 'inherit' });
    if (strip.status !== 0) console.warn('cmake-js-node-gyp: could not strip the CUDA library; shipping it unstripped');
  }
  fs.renameSync(shipped + '.tmp', shipped);
} else if (fs.existsSync(shipped)) {
  fs.unlinkSync(shipped);
}
