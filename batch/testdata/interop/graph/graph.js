// Drive a Microsoft Graph JSON batch with npm's @microsoft/microsoft-graph-client
// 3.0.7 (Microsoft's Graph JavaScript client): BatchRequestContent builds
// the batch, with dependsOn, from ordinary fetch Requests; the script POSTs
// it to BASE/v1.0/$batch and BatchResponseContent parses the answer.
// Only JSON request bodies: under Node the library reads any other body
// through FileReader, which Node lacks, and sends none.
// Usage: node graph.js BASE. Prints, as JSON, the batch as the library
// built it and what it parsed for each request.
'use strict';
const { BatchRequestContent, BatchResponseContent } = require('@microsoft/microsoft-graph-client');

async function main() {
  const base = process.argv[2];
  const json = { 'Content-Type': 'application/json' };
  const steps = [
    { id: '1', request: new Request(base + '/v1.0/me/events', { method: 'POST', headers: json, body: JSON.stringify({ subject: 'Batch' }) }) },
    { id: '2', request: new Request(base + '/v1.0/me/events/1', { method: 'PATCH', headers: json, body: JSON.stringify({ subject: 'Batched' }) }), dependsOn: ['1'] },
    { id: '3', request: new Request(base + '/v1.0/me/events/1', { method: 'GET' }), dependsOn: ['1'] },
    { id: '4', request: new Request(base + '/v1.0/me/photo/$value', { method: 'GET' }), dependsOn: ['1'] },
    { id: '5', request: new Request(base + '/v1.0/throttled', { method: 'GET' }), dependsOn: ['1'] },
    { id: '6', request: new Request(base + '/v1.0/me/missing', { method: 'GET' }), dependsOn: ['1'] },
  ];
  const content = new BatchRequestContent(steps);
  const sent = await content.getContent();
  const res = await fetch(base + '/v1.0/$batch', { method: 'POST', headers: json, body: JSON.stringify(sent) });
  if (res.status !== 200) {
    throw new Error('batch status ' + res.status + ': ' + (await res.text()));
  }
  const parsed = new BatchResponseContent(await res.json());
  const got = {};
  for (const [id, r] of parsed.getResponses()) {
    got[id] = {
      status: r.status,
      contentType: r.headers.get('content-type'),
      retryAfter: r.headers.get('retry-after'),
      text: await r.text(),
    };
  }
  process.stdout.write(JSON.stringify({ sent, got }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
