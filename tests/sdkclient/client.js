// SPDX-License-Identifier: Apache-2.0
// An HTTP client instrumented with the official OpenTelemetry SDK: it makes
// GET requests to the URLs on its command line and exports its spans with
// the SDK's own OTLP exporter to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
'use strict';

const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
provider.register();
registerInstrumentations({
  instrumentations: [new HttpInstrumentation({
    // The exporter's own requests are not part of the test.
    ignoreOutgoingRequestHook: (req) => req.path === '/v1/traces',
  })],
});

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
  await provider.shutdown();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
