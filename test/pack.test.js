'use strict';
// Proves the published package installs and trains with no compiler: pack the
// package with its prebuilt binary, install the tarball into a fresh folder
// with cmake and every C/C++ compiler hidden from PATH, train on spirals.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');

function findNpmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    '/usr/lib/node_modules/npm/bin/npm-cli.js',
    '/usr/local/lib/node_modules/npm/bin/npm-cli.js',
  ];
  const found = candidates.find((c) => c && /npm-cli\.js$/.test(c) && fs.existsSync(c));
  if (!found) throw new Error(`cannot find npm-cli.js (tried ${candidates.join(', ')})`);
  return found;
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}${r.signal ? ', ' + r.signal : ''}):\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

describe('packaging: install from the packed tarball without a compiler', function () {
  this.timeout(300000);
  let work;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-pack-'));
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('npm run prebuild produces a stripped N-API binary in prebuilds/linux-x64/', () => {
    run('npm', ['run', 'prebuild'], { cwd: root });
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const binaries = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
    assert.equal(binaries.length, 1, `expected one .node in ${dir}, found ${binaries}`);
    const file = path.join(dir, binaries[0]);
    // Stripped (--strip): no symbol table left.
    const nm = spawnSync('nm', [file], { encoding: 'utf8' });
    if (!nm.error) assert.match(nm.stderr, /no symbols/);
  });

  it('the tarball installs with no compiler on PATH and trains', () => {
    const packed = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')))[0];
    const tarball = path.join(work, info.filename);
    const files = info.files.map((f) => f.path);
    assert.ok(files.some((f) => /^prebuilds\/linux-x64\/.+\.node$/.test(f)), 'tarball lacks the prebuilt binary');
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'tarball lacks dist/');
    assert.ok(!files.some((f) => f.startsWith('build/')), 'tarball must not ship build/');

    // A PATH with node and npm only: no cc, c++, g++, gcc, clang, make or cmake.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh')); // npm runs lifecycle scripts through sh
    const npmCli = findNpmCli();
    fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: bin, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    for (const k of Object.keys(env)) if (k.startsWith('npm_') && !k.startsWith('npm_config_')) delete env[k];
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'cmake', 'make']) {
      const probe = spawnSync(tool, ['--version'], { env });
      assert.ok(probe.error, `${tool} is still reachable on the test PATH`);
    }

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const install = run(path.join(bin, 'npm'), ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app, env });
    assert.match(install.stdout + install.stderr, /native binary loads, no build needed|added/);
    assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'backpropagate', 'build')), 'the install compiled from source');

    const script = `
      const { Trainer, datasets } = require('backpropagate');
      const data = datasets.spirals({ samples: 600, classes: 3, seed: 3 });
      const t = new Trainer({ model: { inputSize: 2, hiddenLayers: [32, 32], outputSize: 3 }, learningRate: 0.01 });
      t.train(data, { epochs: 20 }).then((run) => {
        const h = run.lossHistory;
        const first = h.slice(0, 10).reduce((a, b) => a + b) / 10;
        const last = h.slice(-10).reduce((a, b) => a + b) / 10;
        console.log(JSON.stringify({ first, last, steps: run.steps }));
      });`;
    const trained = run(path.join(bin, 'node'), ['-e', script], { cwd: app, env });
    const result = JSON.parse(trained.stdout.trim());
    assert.ok(result.last < result.first * 0.5, `loss did not fall: ${JSON.stringify(result)}`);
  });
});
