'use strict';
// Paths every Node test needs; ctest sets them (tests/CMakeLists.txt), and
// running a file by hand falls back to the default build folder.
const path = require('node:path');

const sourceDir = process.env.KVSGATE_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const buildDir = process.env.KVSGATE_BUILD_DIR || path.join(sourceDir, 'build');

module.exports = {
  sourceDir,
  buildDir,
  bin: process.env.KVSGATE_BIN || path.join(buildDir, 'kvsgate'),
  vectorsDir: process.env.KVSGATE_VECTORS_DIR || path.join(sourceDir, 'tests', 'vectors'),
};
