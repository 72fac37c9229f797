// Runs ONNX models in onnxruntime-web (wasm backend, one thread) inside headless Chromium.
//
//   node tests/web/run_models.mjs JOBS.json
//
// JOBS.json: {"jobs": [{"model": "m.onnx", "inputs": {"images": "x.npy"}, "out_dir": "dir"}, ...]}
// Every job's outputs are written as <out_dir>/<output name>.npy (float32, the contract of
// tests/oracle/ort_run.py), and one line per job is printed. The page, the onnxruntime-web files and
// the models are served by this script from 127.0.0.1; nothing is fetched from elsewhere.
// Chromium is /usr/bin/chromium (Debian package `chromium`), or $ONNXIDE_CHROMIUM. Anything missing
// (Chromium, npm packages, a file) is an error with a non-zero exit: never a skip.
import { chromiumSession, readNpy, writeNpy, startServer } from './lib.mjs';
import { readFileSync } from 'node:fs';

async function main() {
  const jobsPath = process.argv[2];
  if (!jobsPath) throw new Error('usage: node tests/web/run_models.mjs JOBS.json');
  const { jobs } = JSON.parse(readFileSync(jobsPath, 'utf8'));
  if (!Array.isArray(jobs) || jobs.length === 0) throw new Error(`${jobsPath}: no jobs`);

  // Routes: /job/<i>/model and /job/<i>/input/<name> (raw little-endian float32 data).
  const inputs = jobs.map((job) =>
    Object.fromEntries(Object.entries(job.inputs).map(([name, path]) => [name, readNpy(path)])),
  );
  const server = await startServer((url) => {
    const m = url.match(/^\/job\/(\d+)\/(model|input\/(.+))$/);
    if (!m) return null;
    const i = Number(m[1]);
    if (!(i < jobs.length)) return null;
    if (m[2] === 'model') return { body: readFileSync(jobs[i].model), type: 'application/octet-stream' };
    const input = inputs[i][decodeURIComponent(m[3])];
    return input ? { body: input.bytes, type: 'application/octet-stream' } : null;
  });
  const { browser, page } = await chromiumSession(server.origin + '/blank.html');
  try {
    await page.addScriptTag({ url: '/ort/ort.min.js' });
    for (let i = 0; i < jobs.length; i++) {
      const specs = Object.entries(inputs[i]).map(([name, t]) => ({ name, shape: t.shape }));
      const t0 = Date.now();
      const result = await page.evaluate(async ({ i, specs }) => {
        /* global ort */
        ort.env.wasm.wasmPaths = '/ort/';
        ort.env.wasm.numThreads = 1;
        const get = async (url) => {
          const r = await fetch(url);
          if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
          return new Uint8Array(await r.arrayBuffer());
        };
        const session = await ort.InferenceSession.create(await get(`/job/${i}/model`), {
          executionProviders: ['wasm'],
        });
        const feeds = {};
        for (const { name, shape } of specs) {
          const bytes = await get(`/job/${i}/input/${encodeURIComponent(name)}`);
          feeds[name] = new ort.Tensor('float32', new Float32Array(bytes.buffer), shape);
        }
        const t = performance.now();
        const outs = await session.run(feeds);
        const ms = performance.now() - t;
        const result = { ms, outputs: [] };
        for (const name of session.outputNames) {
          const o = outs[name];
          if (o.type !== 'float32') throw new Error(`output ${name}: type ${o.type}, expected float32`);
          const u8 = new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength);
          let s = '';
          for (let k = 0; k < u8.length; k += 0x8000) s += String.fromCharCode(...u8.subarray(k, k + 0x8000));
          result.outputs.push({ name, dims: Array.from(o.dims), b64: btoa(s) });
        }
        await session.release();
        return result;
      }, { i, specs });
      for (const o of result.outputs) {
        writeNpy(jobs[i].out_dir, o.name, o.dims, Buffer.from(o.b64, 'base64'));
      }
      const shapes = result.outputs.map((o) => `${o.name} [${o.dims}]`).join(', ');
      console.log(`${jobs[i].model}: ${shapes}; run ${result.ms.toFixed(0)} ms, job ${Date.now() - t0} ms`);
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(`run_models.mjs: error: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
