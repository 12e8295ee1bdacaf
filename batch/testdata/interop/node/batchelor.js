// Drive a batch with npm's batchelor 2.0.2 (a real client nobody in this
// project wrote: version-less LF-only request lines, POST bodies without
// Content-Length). Usage: node batchelor.js BASE_URL. Prints the response
// parts batchelor parsed, as JSON.
'use strict';
const Batchelor = require('batchelor');

const base = process.argv[2];
const batch = new Batchelor({
  uri: base + '/batch/farm/v1',
  method: 'POST',
  auth: { bearer: 'node-token' },
  headers: { 'Content-Type': 'multipart/mixed' },
});
batch.add([
  { method: 'GET', path: '/farm/v1/animals/pony', requestId: 'pony' },
  { method: 'GET', path: '/farm/v1/animals/cow', requestId: 'cow', auth: { bearer: 'own-token' } },
  {
    method: 'PUT', path: '/farm/v1/animals/sheep', requestId: 'sheep',
    parameters: { 'Content-Type': 'application/json', body: { animalName: 'sheep' } },
  },
]);
batch.run((err, res) => {
  if (err) {
    console.error(String(err));
    process.exit(1);
  }
  const out = {};
  for (const p of res.parts) {
    out[p.headers['Content-ID']] = { status: Number(p.statusCode), body: p.body || null };
  }
  process.stdout.write(JSON.stringify(out));
});
