'use strict';
// Shared by every package: TypeScript tests run through tsx; the summary reporter prints the
// spec output and records the counts that scripts/test.mjs turns into the final line.
module.exports = {
  'node-option': ['import=tsx'],
  reporter: require.resolve('./scripts/summary-reporter.cjs'),
  timeout: 30000,
  exit: true,
};
