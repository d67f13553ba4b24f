// SPDX-License-Identifier: Apache-2.0
// An HTTP client instrumented with the official OpenTelemetry SDK: it makes
// GET requests to the URLs on its command line, then prints the client spans
// the SDK recorded, one JSON object per line: traceId, spanId, url.
'use strict';

const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

// Loaded after instrumentation is registered, so requests are traced.
const http = require('http');

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

(async () => {
  for (const url of process.argv.slice(2)) {
    await get(url);
  }
  await provider.forceFlush();
  for (const s of exporter.getFinishedSpans()) {
    const ctx = s.spanContext();
    console.log(JSON.stringify({
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      kind: s.kind,
      url: s.attributes['http.url'] || s.attributes['url.full'],
    }));
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
