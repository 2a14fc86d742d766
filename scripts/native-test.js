#!/usr/bin/env node
// `npm run test:native [-- --tsan|--asan|--valgrind|--cuda] [filter...]`: builds the
// engine's own test executable (no Node-API) with CMake and runs it.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const mode = args.includes('--tsan') ? 'tsan' : args.includes('--asan') ? 'asan' : 'release';
const valgrind = args.includes('--valgrind');
const filter = args.filter((a) => !a.startsWith('--'));
const dir = path.join(root, `build-native-${mode}`);
const flags = { release: [], tsan: ['-DBP_TSAN=ON', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], asan: ['-DBP_SANITIZE=ON', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'] }[mode];

function run(cmd, cmdArgs, env) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}

// The engine tests need no GPU code: skip the (slow to compile) CUDA library
// unless asked for with --cuda.
const cuda = [args.includes('--cuda') ? '-DBP_CUDA=ON' : '-DBP_CUDA=OFF'];
run('cmake', ['-S', '.', '-B', dir, '-DBP_BUILD_TESTS=ON', '-DBP_BUILD_ADDON=OFF', ...cuda, ...flags]);
run('cmake', ['--build', dir, '-j2', '--target', 'bp_engine_tests', 'bp_alloc_tests']);
const env = mode === 'tsan' ? { TSAN_OPTIONS: 'halt_on_error=1' } : mode === 'asan' ? { ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' } : {};
const exe = path.join(dir, 'bp_engine_tests');
// --fair-sched: valgrind runs one thread at a time, and without fair
// scheduling a spinning producer can starve the queue's consumer for minutes.
if (valgrind) run('valgrind', ['--error-exitcode=1', '--fair-sched=yes', '--leak-check=full', '--errors-for-leak-kinds=definite', exe, ...filter], env);
else run(exe, filter, env);

// bp_alloc_tests counts allocations by replacing the global operator new,
// which valgrind and ASan also replace: it runs natively (and under TSan, whose
// allocator interception leaves a program's own operator new alone).
const allocExe = path.join(dir, 'bp_alloc_tests');
if (valgrind || mode === 'asan') console.log(`bp_alloc_tests skipped: it replaces operator new, as ${valgrind ? 'valgrind' : 'ASan'} does; run it without --${valgrind ? 'valgrind' : 'asan'}`);
else run(allocExe, filter, env);
