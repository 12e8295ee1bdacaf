// run.mjs runs the Node multipart parsers on the workloads the Go suite
// wrote, checks that each one yields the same parts as mime/multipart (the
// hash in the manifest), times the ones that do, and prints on stdout
// {node, versions, results: [{workload, peer, status, reason, mbps}]}.
//
// Usage: node run.mjs manifest.json (the suite writes the manifest).
//
// Each peer is driven the way its README says, on the message delivered
// as 64 KiB chunks, the way a socket delivers it. Each yields every part's
// headers and body to the same consumer, which counts bytes when timing
// and hashes a canonical form (identical to bench/sink.go) when checking.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';

import * as mjackson from '@mjackson/multipart-parser';
import * as remix from '@remix-run/multipart-parser';
import busboy from 'busboy';
import { meros } from 'meros/node';

const CHUNK = 64 * 1024;

// A sink mirrors bench/sink.go: a timed sink counts, a verifying sink
// hashes "P\n", sorted "name:value\n" fields, "B\n", body, "\nE len\n".
class Sink {
  constructor(verify) {
    this.verify = verify;
    this.n = 0;
    this.parts = 0;
    if (verify) this.h = createHash('sha256');
  }
  part(fields, chunks) {
    this.parts++;
    if (!this.verify) {
      for (const [k, v] of fields) this.n += k.length + v.length;
      for (const c of chunks) this.n += c.length;
      return;
    }
    const fs = fields.map(([k, v]) => [k.toLowerCase(), v.replace(/^[ \t]+|[ \t]+$/g, '')]);
    // Array.prototype.sort is stable, like slices.SortStableFunc.
    fs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.h.update('P\n');
    for (const [k, v] of fs) this.h.update(k + ':' + v + '\n');
    this.h.update('B\n');
    let len = 0;
    for (const c of chunks) {
      this.h.update(c);
      len += c.length;
    }
    this.h.update('\nE ' + len + '\n');
  }
  sum() {
    return this.h.digest('hex');
  }
}

function chunksOf(data) {
  const out = [];
  for (let i = 0; i < data.length; i += CHUNK) out.push(data.subarray(i, Math.min(i + CHUNK, data.length)));
  return out;
}

const unlimited = { maxHeaderSize: 64 * 1024, maxFileSize: Number.MAX_SAFE_INTEGER };

// Each peer: run(chunks, boundary, sink) parses one message. A peer that
// cannot handle multipart/mixed at all throws a NotApplicable.
class NotApplicable extends Error {}

const peers = {
  '@mjackson/multipart-parser': {
    // README, "Low-level API": parseMultipart(message, { boundary }) over a
    // Uint8Array or an iterable of chunks; part.headers is a Headers object,
    // part.content the body chunks. maxFileSize (default 2 MiB) is raised
    // for the 16 MiB parts.
    run(chunks, boundary, sink) {
      for (const part of mjackson.parseMultipart(chunks, { boundary, ...unlimited })) {
        sink.part([...part.headers], part.content);
      }
    },
  },
  '@remix-run/multipart-parser': {
    // README, "Low-level API" and "Part Headers": same API; headers are a
    // plain object keyed by lower-case name. maxParts (default 1000) and
    // maxTotalSize are raised with maxFileSize.
    run(chunks, boundary, sink) {
      const opts = { boundary, ...unlimited, maxParts: 1_000_000, maxTotalSize: Number.MAX_SAFE_INTEGER };
      for (const part of remix.parseMultipart(chunks, opts)) {
        sink.part(Object.entries(part.headers), part.content);
      }
    },
  },
  busboy: {
    // README: busboy({ headers }) returns a Writable emitting 'field' and
    // 'file' events. It accepts multipart/form-data and urlencoded only.
    async run(chunks, boundary, sink) {
      let bb;
      try {
        bb = busboy({ headers: { 'content-type': `multipart/mixed; boundary=${boundary}` } });
      } catch (e) {
        throw new NotApplicable(`busboy 1.6.0 parses multipart/form-data only: ${e.message}`);
      }
      await new Promise((resolve, reject) => {
        bb.on('file', (name, stream, info) => {
          const body = [];
          stream.on('data', (c) => body.push(c));
          stream.on('end', () => sink.part([['content-type', info.mimeType]], body));
        });
        bb.on('field', (name, value) => sink.part([], [Buffer.from(value)]));
        bb.on('close', resolve);
        bb.on('error', reject);
        for (const c of chunks) bb.write(c);
        bb.end();
      });
    },
  },
  meros: {
    // README, "Node": meros(response) on an IncomingMessage-like stream
    // with a content-type header resolves to an async generator of
    // { headers, body, json } parts. It JSON.parses application/json
    // bodies, so their bytes are not available to compare.
    async run(chunks, boundary, sink) {
      const res = Readable.from(chunks, { objectMode: false });
      res.headers = { 'content-type': `multipart/mixed; boundary="${boundary}"` };
      const parts = await meros(res);
      if (!parts || typeof parts[Symbol.asyncIterator] !== 'function') {
        throw new NotApplicable('meros did not recognise the body as multipart');
      }
      for await (const part of parts) {
        if (part.json) {
          throw new NotApplicable('meros JSON.parses application/json parts and yields the object, not the bytes');
        }
        sink.part(Object.entries(part.headers), [part.body]);
      }
    },
  },
};

function versionOf(pkg) {
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

// now returns milliseconds of wall time, or with clock "cpu" of process
// CPU time (user + system, all threads), like the Go side's -clock.
let now = () => Number(process.hrtime.bigint()) / 1e6;

async function timeIt(peer, chunks, boundary, size, minMs, warmupMs) {
  const sink = new Sink(false);
  // Warm up for a while, not one pass: V8 optimises hot loops only after
  // many calls.
  for (const start = now(); now() - start < warmupMs; ) {
    await peer.run(chunks, boundary, sink);
  }
  let iters = 0;
  const start = now();
  let elapsed = 0;
  for (;;) {
    await peer.run(chunks, boundary, sink);
    iters++;
    elapsed = now() - start;
    if (elapsed >= minMs && iters >= 2) break;
  }
  if (sink.n === 0) throw new Error('consumed nothing');
  return (size * iters) / (elapsed / 1000) / 1e6;
}

async function main() {
  const m = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  if (m.clock === 'cpu') {
    now = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
  }
  const out = [];
  for (const w of m.workloads) {
    const data = readFileSync(w.file);
    const chunks = chunksOf(data);
    for (const name of m.peers) {
      const peer = peers[name];
      const r = { workload: w.name, peer: name, status: 'ok', reason: '', mbps: 0 };
      out.push(r);
      try {
        const sink = new Sink(true);
        await peer.run(chunks, m.boundary, sink);
        const got = sink.sum();
        if (got !== w.want) {
          r.status = 'wrong';
          r.reason = `hash ${got.slice(0, 12)} != ${w.want.slice(0, 12)}, ${sink.parts} parts`;
          // Say whether the chunking is to blame: the same bytes in one piece.
          const whole = new Sink(true);
          try {
            await peer.run([data], m.boundary, whole);
            if (whole.sum() === w.want) r.reason += '; right when given the body in one piece, so it mishandles a delimiter split across two 64 KiB chunks';
          } catch {
            // The reason above stands.
          }
          continue;
        }
        r.mbps = await timeIt(peer, chunks, m.boundary, data.length, m.minMs, m.warmupMs);
      } catch (e) {
        if (e instanceof NotApplicable) {
          r.status = 'n/a';
          r.reason = e.message;
        } else {
          r.status = 'wrong';
          r.reason = `${e.name}: ${e.message}`;
        }
      }
    }
  }
  const versions = {};
  for (const name of m.peers) versions[name] = versionOf(name);
  process.stdout.write(JSON.stringify({ node: process.version, versions, results: out }));
}

await main();
