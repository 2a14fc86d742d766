#!/usr/bin/env node
// `npm install` hook. node-gyp-build's own install step hard-codes
// `node-gyp rebuild`, which cannot build this CMake project, so this does the
// same job: if a binary already loads (the prebuilt one shipped in
// prebuilds/, or an earlier source build), use it; otherwise build from
// source with cmake-js. The load test runs in a child process so a binary
// that crashes on load cannot take the installer down with it.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

function binaryLoads() {
  const probe = `const b = require('node-gyp-build')(${JSON.stringify(root)}); if (typeof b.TrainingSession !== 'function') process.exit(3);`;
  const result = spawnSync(process.execPath, ['-e', probe], { cwd: root, stdio: 'pipe', encoding: 'utf8' });
  return { ok: result.status === 0, detail: (result.stderr || '').trim().split('\n').slice(-3).join(' ') };
}

const forceBuild = process.env.BACKPROP_BUILD_FROM_SOURCE === '1';
if (!forceBuild) {
  const probe = binaryLoads();
  if (probe.ok) {
    console.log('backpropagate: native binary loads, no build needed.');
    process.exit(0);
  }
}

console.log('backpropagate: no prebuilt binary for this platform loads; building from source with cmake-js (needs CMake and a C++17 compiler).');
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.error('backpropagate: cmake-js is missing, cannot build from source. Reinstall with: npm install backpropagate');
  process.exit(1);
}
const build = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(
    'backpropagate: the source build failed. Install CMake (>= 3.18) and a C++17 compiler (g++ or clang), then run npm install again.\n' +
      'On Debian/Ubuntu: sudo apt-get install -y cmake g++',
  );
  process.exit(build.status || 1);
}
