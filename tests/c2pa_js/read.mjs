// Validate one file with @contentauth/c2pa-wasm (offline) and print what it found as JSON.
// Usage: node read.mjs FILE MIME_TYPE TRUST_ROOT_PEM
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, WasmReader } from '@contentauth/c2pa-wasm';

const require = createRequire(import.meta.url);
initSync({ module: readFileSync(require.resolve('@contentauth/c2pa-wasm/c2pa.wasm')) });
const [file, format, root] = process.argv.slice(2);
const context = JSON.stringify({
  trust: { user_anchors: readFileSync(root, 'utf8') },
  verify: { remote_manifest_fetch: false, ocsp_fetch: false },
});
const reader = await WasmReader.fromBytes(format, new Uint8Array(readFileSync(file)), context);
const store = JSON.parse(reader.json());
const active = store.manifests[store.active_manifest];
const failures = (store.validation_results?.activeManifest?.failure ?? []).map((f) => f.code);
console.log(JSON.stringify({
  state: store.validation_state,
  failures,
  generator: active.claim_generator_info,
  assertions: Object.fromEntries(active.assertions.map((a) => [a.label, a.data])),
  ingredients: active.ingredients ?? [],
  manifests: Object.keys(store.manifests).length,
}));
