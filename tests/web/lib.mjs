// Shared pieces of the browser tests: a 127.0.0.1 file server, headless Chromium, .npy files.
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');

/** Chromium: $ONNXIDE_CHROMIUM, else Debian's /usr/bin/chromium. */
export const chromiumPath = process.env.ONNXIDE_CHROMIUM || '/usr/bin/chromium';

/** Flags that keep Chromium off the network (it otherwise tries to reach the internet at start). */
export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

function requirePackage(name) {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(name);
  } catch {
    throw new Error(`npm package ${name} is missing: run \`npm ci\` in tests/web (.ci/run does)`);
  }
}

/** The onnxruntime-web dist folder (ort.min.js and the wasm binaries). */
export function ortDist() {
  requirePackage('onnxruntime-web');
  const dist = join(here, 'node_modules/onnxruntime-web/dist');
  for (const f of ['ort.min.js', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) {
    if (!existsSync(join(dist, f))) throw new Error(`onnxruntime-web is incomplete: ${join(dist, f)} is missing`);
  }
  return dist;
}

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.css': 'text/css', '.jpg': 'image/jpeg', '.png': 'image/png',
  '.onnx': 'application/octet-stream',
};

function serveFrom(root, rel) {
  const path = normalize(join(root, rel));
  if (!path.startsWith(root + '/') || !existsSync(path)) return null;
  return { body: readFileSync(path), type: TYPES[extname(path)] || 'application/octet-stream' };
}

/**
 * Serves on 127.0.0.1 (a free port): `/ort/*` from onnxruntime-web's dist, `/examples/web/*` from the
 * repository's example page, `/blank.html`, and whatever `extra(url)` answers ({body, type} or null).
 */
export async function startServer(extra = () => null) {
  const dist = ortDist();
  const examples = join(repoRoot, 'examples/web');
  const server = createServer((req, res) => {
    const url = decodeURI(new URL(req.url, 'http://127.0.0.1').pathname);
    let answer = null;
    try {
      if (url === '/favicon.ico') answer = { body: '', type: 'image/x-icon' };
      else if (url === '/blank.html') answer = { body: '<!doctype html><title>onnxide</title>', type: 'text/html' };
      else if (url.startsWith('/ort/')) answer = serveFrom(dist, url.slice(5));
      else if (url.startsWith('/examples/web/')) answer = serveFrom(examples, url.slice(14));
      else answer = extra(url);
    } catch (e) {
      res.writeHead(500).end(String(e));
      return;
    }
    if (!answer) {
      res.writeHead(404).end(`not found: ${url}`);
      return;
    }
    res.writeHead(200, { 'Content-Type': answer.type, 'Cache-Control': 'no-store' }).end(answer.body);
  });
  await new Promise((ok, fail) => server.listen(0, '127.0.0.1', ok).on('error', fail));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** Launches headless Chromium and opens `url`; page errors and failed requests fail the run. */
export async function chromiumSession(url) {
  requirePackage('playwright-core');
  const { chromium } = await import('playwright-core');
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: apt-get install -y chromium (.ci/run does), or set ONNXIDE_CHROMIUM`);
  }
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page console: ${m.text()}`); });
  await page.goto(url);
  return { browser, page };
}

/** Reads a little-endian float32, C-order .npy: {shape, bytes}. */
export function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    throw new Error(`${path}: expected little-endian float32 in C order, header ${header.trim()}`);
  }
  const m = header.match(/'shape':\s*\(([^)]*)\)/);
  if (!m) throw new Error(`${path}: no shape in header ${header.trim()}`);
  const shape = m[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const bytes = buf.subarray(start + headerLen);
  if (bytes.length !== 4 * shape.reduce((a, b) => a * b, 1)) throw new Error(`${path}: data size does not match shape`);
  // A copy, aligned, so that the page can view it as a Float32Array.
  return { shape, bytes: Buffer.from(bytes) };
}

/** Writes float32 `bytes` of shape `dims` to <dir>/<name>.npy (the file names of ort_run.py). */
export function writeNpy(dir, name, dims, bytes) {
  mkdirSync(dir, { recursive: true });
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const safe = /[/\\\0]/.test(name) || name === '' || name === '.' || name === '..' ? name.replace(/[/\\\0]/g, '_') || '_' : name;
  writeFileSync(join(dir, `${safe}.npy`), Buffer.concat([pre, Buffer.from(header, 'latin1'), bytes]));
}
