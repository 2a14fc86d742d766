'use strict';
// `npx mocha test/x.test.js` runs just that file; plain `mocha` (npm test)
// runs the whole suite. (A spec list in a config file is added to the files
// named on the command line, so it is only set when none are named.)
const named = process.argv.slice(2).some((arg) => /\.test\.js$/.test(arg));
module.exports = {
  spec: named ? [] : ['test/**/*.test.js'],
  timeout: 60000,
  reporter: 'spec',
  exit: false,
};
