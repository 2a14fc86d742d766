'use strict';
// What `npm pack` would publish: only what runs or builds (no native tests,
// fuzz corpus or stub NVML sources, no TypeScript sources or test files),
// a source tree that still configures without those folders, and .d.ts files
// that a strict TypeScript consumer compiles against.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');

// Every published path starts with one of these (package.json "files", plus
// what npm always adds).
const allowed = [
  /^package\.json$/, /^README\.md$/, /^LICENSE$/,
  /^dist\/.+\.(js|d\.ts|js\.map)$/,
  /^bin\/[^/]+\.js$/,
  /^dashboard\//,
  /^native\/(addon|engine)\/[^/]+\.(cpp|hpp|h)$/,
  /^native\/cuda\/[^/]+\.(cu|cuh|map)$/,
  /^CMakeLists\.txt$/,
  /^binding\.d\.ts$/,
  /^prebuilds\/linux-x64\/[^/]+\.(node|so)$/,
  /^scripts\/(install|cmake-js-node-gyp)\.js$/,
];

function packedFiles() {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `npm pack --dry-run failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0].files.map((f) => f.path);
}

describe('package contents (npm pack --dry-run)', function () {
  this.timeout(180000);
  let files;
  let work;
  before(() => {
    files = packedFiles();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-contents-'));
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('ships only what runs or builds', () => {
    const unexpected = files.filter((f) => !allowed.some((re) => re.test(f)));
    assert.deepEqual(unexpected, [], `files that should not be published: ${unexpected.join(', ')}`);
    for (const dir of ['native/tests/', 'native/fuzz/', 'native/stub-nvml/', 'test/', 'bench/', 'stress/', 'ts/']) {
      assert.ok(!files.some((f) => f.startsWith(dir)), `${dir} must not be published`);
    }
    // And everything needed is there: the JS entry, its types, the sources a
    // fallback source build needs.
    for (const needed of ['dist/index.js', 'dist/index.d.ts', 'binding.d.ts', 'CMakeLists.txt', 'native/addon/addon.cpp',
      'native/engine/trainer.cpp', 'native/cuda/backend.cu', 'scripts/install.js', 'bin/backprop.js']) {
      assert.ok(files.includes(needed), `${needed} is missing from the package`);
    }
  });

  it('the published source tree configures with CMake without the test folders', function () {
    const probe = spawnSync('cmake', ['--version']);
    if (probe.error) this.skip(); // cmake is a build-from-source tool only
    const tree = path.join(work, 'src');
    for (const f of files.filter((p) => p === 'CMakeLists.txt' || p.startsWith('native/'))) {
      fs.mkdirSync(path.dirname(path.join(tree, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(tree, f));
    }
    const r = spawnSync('cmake', ['-S', tree, '-B', path.join(work, 'cmake-build'), '-DBP_BUILD_ADDON=OFF', '-DBP_BUILD_TESTS=ON', '-DBP_CUDA=OFF'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `cmake configure failed on the published tree:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /native\/tests is not here/);
  });

  it('a strict TypeScript consumer compiles against the published .d.ts files', () => {
    const pkg = path.join(work, 'app', 'node_modules', 'backpropagate');
    for (const f of files.filter((p) => p.endsWith('.d.ts') || p === 'package.json')) {
      fs.mkdirSync(path.dirname(path.join(pkg, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(pkg, f));
    }
    const app = path.join(work, 'app');
    // The package's own dependencies, as npm would install them beside it.
    const { dependencies } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    for (const dep of Object.keys(dependencies)) {
      const target = path.join(app, 'node_modules', dep);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync(path.join(root, 'node_modules', dep), target);
    }
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'types', 'consumer.ts'), path.join(app, 'consumer.ts'));
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'commonjs', moduleResolution: 'node', strict: true, noEmit: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], skipLibCheck: false,
      },
      files: ['consumer.ts'],
    }));
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, '-p', app], { cwd: app, encoding: 'utf8' });
    assert.equal(r.status, 0, `the consumer fixture does not compile against the published types:\n${r.stdout}${r.stderr}`);
  });
  it('the exports map gives ".", "./internal" and "./fleet" and keeps private files private', () => {
    const pkg = path.join(work, 'runtime', 'node_modules', 'backpropagate');
    for (const f of files.filter((p) => p.endsWith('.js') || p === 'package.json')) {
      fs.mkdirSync(path.dirname(path.join(pkg, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(pkg, f));
    }
    // Resolved from a child process in the consumer's folder (inside this
    // repository, 'backpropagate' would resolve to the package itself).
    const probe = `
      const out = { main: require.resolve('backpropagate'), internal: require.resolve('backpropagate/internal'), fleet: require.resolve('backpropagate/fleet') };
      try { require.resolve('backpropagate/dist/trainer'); out.private = 'resolved'; } catch (e) { out.private = e.code; }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', probe], { cwd: path.join(work, 'runtime'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.main, path.join(pkg, 'dist', 'index.js'));
    assert.equal(out.internal, path.join(pkg, 'dist', 'internal.js'));
    assert.equal(out.fleet, path.join(pkg, 'dist', 'fleet', 'index.js'));
    assert.equal(out.private, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});
