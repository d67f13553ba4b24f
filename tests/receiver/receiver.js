// SPDX-License-Identifier: Apache-2.0
// An OTLP test receiver for kspan's end-to-end tests. It decodes every request
// with the OpenTelemetry JavaScript project's own generated protobuf
// definitions (@opentelemetry/otlp-transformer) and writes one JSON line per
// request to --out, and it can answer with faults on request.
//
// Usage: node receiver.js --port P --out FILE [--protocol http|grpc]
//        [--faults F1,F2,...] [--down-for SECONDS] [--tls CERT KEY [--client-ca CA]]
//
// --faults answers the n-th traces request with the n-th fault, then "ok":
//   ok            200 (gRPC OK) with an empty response
//   429s:N        429 with Retry-After: N (seconds)
//   429d:N        429 with Retry-After: an HTTP-date N seconds ahead
//   503 502 504 400 500
//                 that status (gRPC: UNAVAILABLE, INVALID_ARGUMENT, INTERNAL)
//   reset         close the connection without an answer
//   partial:N     200 with partial_success rejecting N spans
//   grpc:CODE     gRPC status CODE (gRPC only)
//   exhausted:N   gRPC RESOURCE_EXHAUSTED with RetryInfo of N seconds
// --down-for S   listen only S seconds after start.
// Each line: {"t": ms since epoch, "signal", "encoding", "gzip", "headers",
// "answer", "body"} where body is the decoded request (toObject with 64-bit
// integers as strings, enums as numbers, ids in hex) or "error" when it did
// not decode.
'use strict';

const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const https = require('https');
const zlib = require('zlib');
const protobuf = require('protobufjs');
const grpc = require('@grpc/grpc-js');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const pb = root.opentelemetry.proto;

// grpc-js hides the HTTP/2 request headers it handles itself (content-type,
// te, grpc-encoding); see them on the server it creates. kspan's requests
// come one at a time, so the last stream's headers are those of the call.
let lastH2Headers = {};
for (const fn of ['createServer', 'createSecureServer']) {
  const orig = http2[fn];
  http2[fn] = function (...args) {
    const server = orig.apply(this, args);
    server.on('stream', (stream, headers) => { lastH2Headers = { ...headers }; });
    return server;
  };
}
const SIGNALS = {
  traces: {
    path: '/v1/traces',
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    Req: pb.collector.trace.v1.ExportTraceServiceRequest,
    Resp: pb.collector.trace.v1.ExportTraceServiceResponse,
    partial: (n) => ({ partialSuccess: { rejectedSpans: n, errorMessage: `rejected ${n} spans` } }),
  },
  metrics: {
    path: '/v1/metrics',
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    Req: pb.collector.metrics.v1.ExportMetricsServiceRequest,
    Resp: pb.collector.metrics.v1.ExportMetricsServiceResponse,
    partial: (n) => ({ partialSuccess: { rejectedDataPoints: n, errorMessage: `rejected ${n}` } }),
  },
};

// google.rpc.Status and RetryInfo, for error bodies and gRPC details.
const rpc = protobuf.Root.fromJSON({
  nested: {
    Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 },
      details: { rule: 'repeated', type: 'Any', id: 3 } } },
    Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
    RetryInfo: { fields: { retry_delay: { type: 'Duration', id: 1 } } },
    Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
  },
});
const RpcStatus = rpc.lookupType('Status');
const RetryInfo = rpc.lookupType('RetryInfo');

function parseArgs(argv) {
  const o = { protocol: 'http', faults: [], downFor: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--protocol') o.protocol = argv[++i];
    else if (a === '--faults') o.faults = argv[++i].split(',').filter(Boolean);
    else if (a === '--down-for') o.downFor = Number(argv[++i]);
    else if (a === '--tls') { o.cert = argv[++i]; o.key = argv[++i]; }
    else if (a === '--client-ca') o.clientCa = argv[++i];
    else throw new Error(`receiver: unknown argument ${a}`);
  }
  if (!o.port || !o.out) throw new Error('receiver: --port and --out are required');
  if (!['http', 'grpc'].includes(o.protocol)) throw new Error('receiver: --protocol http|grpc');
  return o;
}

const opts = parseArgs(process.argv);
let traceRequests = 0;

function nextFault(signal) {
  if (signal !== 'traces') return 'ok';
  const f = opts.faults[traceRequests] || 'ok';
  traceRequests++;
  return f;
}

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

// Walk a decoded object: ids from base64 to hex (OTLP/JSON's form).
function idsToHex(v) {
  if (Array.isArray(v)) return v.map(idsToHex);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = ID_KEYS.has(k) && typeof x === 'string' ? Buffer.from(x, 'base64').toString('hex')
        : idsToHex(x);
    }
    return out;
  }
  return v;
}

// OTLP/JSON to the protobufjs object form: hex ids to base64.
function idsToBase64(v) {
  if (Array.isArray(v)) return v.map(idsToBase64);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (ID_KEYS.has(k) && typeof x === 'string') {
        if (!/^([0-9a-f]{2})*$/.test(x)) throw new Error(`${k} is not lowercase hex: ${x}`);
        out[k] = Buffer.from(x, 'hex').toString('base64');
      } else {
        out[k] = idsToBase64(x);
      }
    }
    return out;
  }
  return v;
}

const TO_OBJECT = { longs: String, enums: Number, bytes: String, arrays: true };

function decode(signal, encoding, buf) {
  const T = SIGNALS[signal].Req;
  if (encoding === 'json') {
    // fromObject is the generated JSON-form reader: it takes 64-bit
    // integers as strings (OTLP/JSON's form) and throws on wrong shapes.
    const obj = idsToBase64(JSON.parse(buf.toString('utf8')));
    return idsToHex(T.toObject(T.fromObject(obj), TO_OBJECT));
  }
  return idsToHex(T.toObject(T.decode(buf), TO_OBJECT));
}

function record(entry) {
  fs.appendFileSync(opts.out, JSON.stringify({ t: Date.now(), ...entry }) + '\n');
}

function statusBody(encoding, code, message, retrySeconds) {
  const st = { code, message, details: [] };
  if (retrySeconds !== undefined) {
    st.details.push({
      type_url: 'type.googleapis.com/google.rpc.RetryInfo',
      value: RetryInfo.encode(RetryInfo.fromObject({ retry_delay: { seconds: retrySeconds } })).finish(),
    });
  }
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message }));
  return Buffer.from(RpcStatus.encode(RpcStatus.fromObject(st)).finish());
}

function httpHandler(req, res) {
  const signal = Object.keys(SIGNALS).find((s) => SIGNALS[s].path === req.url);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let buf = Buffer.concat(chunks);
    const ctype = (req.headers['content-type'] || '').split(';')[0].trim();
    const encoding = ctype === 'application/json' ? 'json' : 'protobuf';
    const gzip = req.headers['content-encoding'] === 'gzip';
    const entry = { signal: signal || null, path: req.url, encoding, gzip, headers: req.headers,
      httpVersion: req.httpVersion };
    if (!signal || req.method !== 'POST') {
      entry.answer = '404';
      record(entry);
      res.writeHead(404).end();
      return;
    }
    if (ctype !== 'application/json' && ctype !== 'application/x-protobuf') {
      entry.answer = '415';
      record(entry);
      res.writeHead(415).end();
      return;
    }
    try {
      if (gzip) buf = zlib.gunzipSync(buf);
      entry.body = decode(signal, encoding, buf);
    } catch (e) {
      entry.body = 'error';
      entry.error = String(e.message || e);
    }
    const fault = entry.body === 'error' ? '400' : nextFault(signal);
    entry.answer = fault;
    record(entry);
    const [kind, arg] = fault.split(':');
    const ct = { 'Content-Type': encoding === 'json' ? 'application/json' : 'application/x-protobuf' };
    const Resp = SIGNALS[signal].Resp;
    const ok = (obj) => encoding === 'json' ? Buffer.from(JSON.stringify(obj))
      : Buffer.from(Resp.encode(Resp.fromObject(obj)).finish());
    switch (kind) {
      case 'reset':
        req.socket.destroy();
        return;
      case '429s':
        res.writeHead(429, { ...ct, 'Retry-After': String(arg) });
        res.end(statusBody(encoding, 8, 'slow down'));
        return;
      case '429d':
        res.writeHead(429, { ...ct, 'Retry-After': new Date(Date.now() + Number(arg) * 1000).toUTCString() });
        res.end(statusBody(encoding, 8, 'slow down'));
        return;
      case 'partial':
        res.writeHead(200, ct);
        res.end(ok(SIGNALS[signal].partial(Number(arg))));
        return;
      case 'ok':
        res.writeHead(200, ct);
        res.end(ok({}));
        return;
      default: {
        const code = Number(kind);
        if (!(code >= 400 && code <= 599)) throw new Error(`receiver: unknown fault ${fault}`);
        res.writeHead(code, ct);
        res.end(statusBody(encoding, code === 400 ? 3 : 14, `fault ${code}`));
      }
    }
  });
}

function grpcService(signal) {
  const s = SIGNALS[signal];
  return {
    Export: {
      path: s.grpcPath,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m) => Buffer.from(s.Req.encode(m).finish()),
      requestDeserialize: (b) => b,	// decoded in the handler, to record failures
      responseSerialize: (m) => Buffer.from(s.Resp.encode(s.Resp.fromObject(m)).finish()),
      responseDeserialize: (b) => s.Resp.decode(b),
    },
  };
}

const GRPC_CODES = { 503: 14, 502: 14, 504: 14, 400: 3, 500: 13 };

function grpcHandler(signal) {
  return (call, callback) => {
    const h2 = lastH2Headers;
    const entry = { signal, path: h2[':path'], encoding: 'protobuf',
      gzip: h2['grpc-encoding'] === 'gzip', headers: { ...h2, ...call.metadata.getMap() } };
    try {
      entry.body = decode(signal, 'protobuf', call.request);
    } catch (e) {
      entry.body = 'error';
      entry.error = String(e.message || e);
    }
    const fault = entry.body === 'error' ? '400' : nextFault(signal);
    entry.answer = fault;
    record(entry);
    const [kind, arg] = fault.split(':');
    if (kind === 'ok') return callback(null, {});
    if (kind === 'partial') return callback(null, SIGNALS[signal].partial(Number(arg)));
    if (kind === 'reset') {
      call.getPeer && call.call && call.call.stream && call.call.stream.session &&
        call.call.stream.session.destroy();
      return callback({ code: 14, details: 'reset' });
    }
    const err = { details: `fault ${fault}`, metadata: new grpc.Metadata() };
    if (kind === 'grpc') {
      err.code = Number(arg);
    } else if (kind === 'exhausted') {
      err.code = 8;
      err.metadata.set('grpc-status-details-bin', statusBody('protobuf', 8, 'slow down', Number(arg)));
    } else if (kind === '429s' || kind === '429d') {
      err.code = 8;	// RESOURCE_EXHAUSTED without RetryInfo: not retryable
    } else {
      err.code = GRPC_CODES[kind] !== undefined ? GRPC_CODES[kind] : 2;
    }
    return callback(err);
  };
}

function start() {
  const host = '127.0.0.1';
  if (opts.protocol === 'grpc') {
    const server = new grpc.Server();
    server.addService(grpcService('traces'), { Export: grpcHandler('traces') });
    server.addService(grpcService('metrics'), { Export: grpcHandler('metrics') });
    let creds = grpc.ServerCredentials.createInsecure();
    if (opts.cert) {
      creds = grpc.ServerCredentials.createSsl(
        opts.clientCa ? fs.readFileSync(opts.clientCa) : null,
        [{ private_key: fs.readFileSync(opts.key), cert_chain: fs.readFileSync(opts.cert) }],
        !!opts.clientCa);
    }
    server.bindAsync(`${host}:${opts.port}`, creds, (err) => {
      if (err) throw err;
      console.log(`listening ${opts.port}`);
    });
    return;
  }
  const server = opts.cert
    ? https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key),
      ca: opts.clientCa ? fs.readFileSync(opts.clientCa) : undefined,
      requestCert: !!opts.clientCa, rejectUnauthorized: !!opts.clientCa }, httpHandler)
    : http.createServer(httpHandler);
  server.keepAliveTimeout = 60000;
  server.listen(opts.port, host, () => console.log(`listening ${opts.port}`));
}

process.on('SIGTERM', () => process.exit(0));
fs.writeFileSync(opts.out, '');
if (opts.downFor > 0) {
  console.log(`down for ${opts.downFor}s`);
  setTimeout(start, opts.downFor * 1000);
} else {
  start();
}
