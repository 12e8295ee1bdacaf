// Drive an OData $batch with npm's @odata/client 2.21.10 (a real client
// nobody in this project wrote). Usage: node odata.js SERVICE_ROOT, where
// SERVICE_ROOT ends in "/" (the batch goes to SERVICE_ROOT + "$batch").
// Prints, as JSON, the responses the library parsed, in its order.
//
// What the library can send shapes the batch: execBatchRequests wraps each
// non-GET request in a changeset of its own and gives no part a Content-ID,
// so a changeset cannot hold two calls and a target cannot be "$1/Orders";
// the order goes to an explicit Customers(1)/Orders.
'use strict';
const { OData } = require('@odata/client');

const client = OData.New4({ serviceEndpoint: process.argv[2] });

async function main() {
  const responses = await client.execBatchRequests([
    client.newBatchRequest({ method: 'POST', collection: 'Customers', entity: { Name: 'Ann' } }),
    client.newBatchRequest({ method: 'POST', collection: 'Customers(1)/Orders', entity: { Qty: 2 } }),
    client.newBatchRequest({ method: 'GET', collection: 'Customers', id: 1 }),
    client.newBatchRequest({ method: 'POST', collection: 'Customers', entity: { Name: 'Bob' } }),
    client.newBatchRequest({ method: 'POST', collection: 'Customers(3)/Orders', entity: { Qty: 0 } }),
    client.newBatchRequest({ method: 'GET', collection: 'Customers', id: 3 }),
  ]);
  const out = [];
  for (const r of responses) {
    const text = await r.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = text;
    }
    out.push({ status: r.status, location: r.headers.Location || null, body });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
