// Copies the .proto files the plugin loads from the repository's proto/
// into ./proto, so that the plugin folder holds everything it runs (the host
// locks and checks the whole folder). Run it after a change to proto/:
//
//   node scripts/copy-proto.js [PROTO_DIR]   (default: the repository's proto/)
'use strict';
const fs = require('fs');
const path = require('path');
const { PROTO_FILES } = require('../protocol');

const from = path.resolve(process.argv[2] || path.join(__dirname, '..', '..', '..', 'proto'));
const to = path.resolve(__dirname, '..', 'proto');
for (const rel of PROTO_FILES) {
  fs.mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
  fs.copyFileSync(path.join(from, rel), path.join(to, rel));
}
console.log(`copied ${PROTO_FILES.length} files from ${from} to ${to}`);
