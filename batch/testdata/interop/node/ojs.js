// Drive an OData $batch with npm's odata 2.0.1 (o.js, a real client nobody
// in this project wrote). Usage: node ojs.js SERVICE_ROOT, where
// SERVICE_ROOT ends in "/" (the batch goes to SERVICE_ROOT + "$batch").
// Prints, as JSON, what the library's batch() resolved to for each batch.
//
// With useChangset, o.js puts every non-GET request of a batch into one
// changeset, numbering Content-IDs from 1, so the second call can target
// "$1/Orders". No GET follows the changeset: o.js leaves out the outer
// delimiter after its changeset, so a GET there would be lost.
'use strict';
const { o } = require('odata');

const root = process.argv[2];
// o.js replaces its whole default batch config with ours, so ours restates
// the defaults (endpoint, boundary prefixes, headers) it does not change.
// Without its own headers the batch would set its multipart Content-Type on
// the Headers object it shares with the calls.
const config = () => ({
  batch: {
    boundaryPrefix: 'batch_',
    changsetBoundaryPrefix: 'changset_',
    endpoint: '$batch',
    headers: new Headers({ 'Content-Type': 'multipart/mixed' }),
    useChangset: true,
    useRelativeURLs: true,
  },
});

async function main() {
  const out = [];
  out.push(await o(root, config())
    .post('Customers', { Name: 'Ann' })
    .post('$1/Orders', { Qty: 2 })
    .batch());
  out.push(await o(root, config())
    .post('Customers', { Name: 'Bob' })
    .post('$1/Orders', { Qty: 0 })
    .batch());
  process.stdout.write(JSON.stringify(out));
}

main().catch(async (err) => {
  // batch() throws the fetch Response on a non-2xx batch reply.
  if (err && typeof err.text === 'function') {
    console.error(`batch answered ${err.status}: ${await err.text()}`);
  } else {
    console.error(err && err.stack ? err.stack : String(err));
  }
  process.exit(1);
});
