// onnxide detect export in the browser: Ultralytics' letterbox, onnxruntime-web (wasm), box decoding, NMS.
// No build step. Query parameters: ort=BASE (where ort.min.js and its .wasm files are; default the
// jsDelivr copy of onnxruntime-web 1.31.1), model=URL (load a model without picking it), conf=, iou=.
'use strict';

const params = new URLSearchParams(location.search);
const ORT_BASE = params.get('ort') || 'https://cdn.jsdelivr.net/npm/onnxruntime-web@1.31.1/dist/';
const $ = (id) => document.getElementById(id);
for (const k of ['conf', 'iou']) if (params.has(k)) $(k).value = params.get(k);

const state = { session: null, meta: null, image: null };

function setStatus(text, kind = 'busy') {
  $('status').textContent = text;
  $('status').dataset.state = kind;
}

function loadOrt() {
  return new Promise((resolve, reject) => {
    if (window.ort) return resolve(window.ort);
    const s = document.createElement('script');
    s.src = ORT_BASE + 'ort.min.js';
    s.onload = () => resolve(window.ort);
    s.onerror = () => reject(new Error(`could not load ${s.src}`));
    document.head.appendChild(s);
  });
}

// The model's metadata_props (ModelProto field 14: StringStringEntryProto key=1, value=2), read from
// the protobuf without a library: onnxruntime-web does not expose custom metadata.
function onnxMetadata(bytes) {
  let pos = 0;
  const varint = (end) => {
    let v = 0, mul = 1;
    for (;;) {
      if (pos >= end) throw new Error('truncated ONNX file');
      const b = bytes[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  const fields = (end, onField) => {
    while (pos < end) {
      const key = varint(end), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) varint(end);
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const len = varint(end), start = pos;
        if (start + len > end) throw new Error('truncated ONNX file');
        onField(field, start, start + len);
        pos = start + len;
      } else throw new Error(`not an ONNX file (wire type ${wire})`);
    }
  };
  const text = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
  const meta = {};
  fields(bytes.length, (field, start, end) => {
    if (field !== 14) return;
    let k = '', v = '';
    fields(end, (f, a, b) => { if (f === 1) k = text(a, b); else if (f === 2) v = text(a, b); });
    meta[k] = v;
  });
  return meta;
}

// Ultralytics writes names as a Python dict literal: {0: 'person', 1: "it's", ...}.
function parseNames(s) {
  const names = {};
  const re = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (let m; (m = re.exec(s || ''));) names[Number(m[1])] = (m[2] ?? m[3]).replace(/\\(.)/g, '$1');
  return names;
}

async function loadModel(bytes) {
  setStatus('loading onnxruntime-web and the model…');
  const ort = await loadOrt();
  ort.env.wasm.wasmPaths = ORT_BASE;
  ort.env.wasm.numThreads = 1;
  const meta = onnxMetadata(bytes);
  if (meta.task && meta.task !== 'detect') throw new Error(`task '${meta.task}': this page draws detect exports only`);
  if (/'nms':\s*True/.test(meta.args || '')) throw new Error('nms=True exports are not handled by this page yet');
  state.session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const imgsz = (meta.imgsz || '[640, 640]').match(/\d+/g).map(Number);
  state.meta = { names: parseNames(meta.names), h: imgsz[0], w: imgsz[1] };
}

// ultralytics.data.augment.LetterBox(auto=False, center=True): resize keeping the aspect ratio, pad with 114.
function letterbox(img, W, H) {
  const r = Math.min(H / img.naturalHeight, W / img.naturalWidth);
  const nw = Math.round(img.naturalWidth * r), nh = Math.round(img.naturalHeight * r);
  const dw = (W - nw) / 2, dh = (H - nh) / 2;
  const left = Math.round(dw - 0.1), top = Math.round(dh - 0.1);
  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.fillStyle = 'rgb(114,114,114)';
  g.fillRect(0, 0, W, H);
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'low'; // bilinear, as cv2.INTER_LINEAR
  g.drawImage(img, left, top, nw, nh);
  const rgba = g.getImageData(0, 0, W, H).data;
  const x = new Float32Array(3 * W * H);
  for (let i = 0, n = W * H; i < n; i++) {
    x[i] = rgba[4 * i] / 255;
    x[n + i] = rgba[4 * i + 1] / 255;
    x[2 * n + i] = rgba[4 * i + 2] / 255;
  }
  return { x, rgba, gain: r, left, top };
}

function iou(a, b) {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

// ultralytics.utils.ops.non_max_suppression for one image (best class per anchor, class-aware NMS,
// at most 300 boxes), then scale_boxes back to the original image.
function decode(out, lb, conf, iouThr, W0, H0) {
  const [, ch, n] = out.dims;
  const d = out.data;
  const cand = [];
  for (let a = 0; a < n; a++) {
    let best = -Infinity, cls = 0;
    for (let c = 4; c < ch; c++) if (d[c * n + a] > best) { best = d[c * n + a]; cls = c - 4; }
    if (!(best > conf)) continue;
    const cx = d[a], cy = d[n + a], w = d[2 * n + a], h = d[3 * n + a];
    cand.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score: best, cls });
  }
  cand.sort((p, q) => q.score - p.score);
  const keep = [];
  for (const c of cand) {
    if (keep.length >= 300) break;
    if (keep.every((k) => k.cls !== c.cls || iou(k.box, c.box) <= iouThr)) keep.push(c);
  }
  const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  return keep.map(({ box, score, cls }) => ({
    x1: clip((box[0] - lb.left) / lb.gain, W0), y1: clip((box[1] - lb.top) / lb.gain, H0),
    x2: clip((box[2] - lb.left) / lb.gain, W0), y2: clip((box[3] - lb.top) / lb.gain, H0),
    score, cls, name: state.meta.names[cls] ?? String(cls),
  }));
}

function draw(img, boxes) {
  const c = $('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const lw = Math.max(2, Math.round(c.width / 400));
  g.lineWidth = lw;
  g.font = `${8 * lw}px sans-serif`;
  for (const b of boxes) {
    const color = `hsl(${(b.cls * 47) % 360} 90% 45%)`;
    g.strokeStyle = color;
    g.strokeRect(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1);
    const label = `${b.name} ${b.score.toFixed(2)}`;
    const tw = g.measureText(label).width + 2 * lw, th = 10 * lw;
    const ty = b.y1 >= th ? b.y1 - th : b.y1;
    g.fillStyle = color;
    g.fillRect(b.x1, ty, tw, th);
    g.fillStyle = '#fff';
    g.fillText(label, b.x1 + lw, ty + 8 * lw);
  }
}

async function run() {
  if (!state.session || !state.image) return;
  setStatus('running…');
  const img = state.image;
  const { w, h } = state.meta;
  const lb = letterbox(img, w, h);
  const input = new ort.Tensor('float32', lb.x, [1, 3, h, w]);
  const t = performance.now();
  const outs = await state.session.run({ [state.session.inputNames[0]]: input });
  const ms = performance.now() - t;
  const out = outs[state.session.outputNames[0]];
  const boxes = decode(out, lb, Number($('conf').value), Number($('iou').value), img.naturalWidth, img.naturalHeight);
  draw(img, boxes);
  // For tests and the curious: the letterboxed RGBA input and the boxes in original-image pixels.
  window.onnxideResult = { image: [img.naturalWidth, img.naturalHeight], letterbox: lb.rgba, boxes, ms };
  setStatus(`${boxes.length} boxes in ${ms.toFixed(0)} ms (${w}×${h} input)`, 'done');
}

const fail = (e) => setStatus(`error: ${e.message || e}`, 'error');

$('model').addEventListener('change', async (ev) => {
  try {
    await loadModel(new Uint8Array(await ev.target.files[0].arrayBuffer()));
    setStatus('model loaded; pick an image', 'ready');
    await run();
  } catch (e) { fail(e); }
});

$('image').addEventListener('change', async (ev) => {
  try {
    const img = new Image();
    img.src = URL.createObjectURL(ev.target.files[0]);
    await img.decode();
    state.image = img;
    await run();
  } catch (e) { fail(e); }
});

for (const k of ['conf', 'iou']) $(k).addEventListener('change', () => run().catch(fail));

if (params.has('model')) {
  (async () => {
    const r = await fetch(params.get('model'));
    if (!r.ok) throw new Error(`${params.get('model')}: HTTP ${r.status}`);
    await loadModel(new Uint8Array(await r.arrayBuffer()));
    setStatus('model loaded; pick an image', 'ready');
    await run();
  })().catch(fail);
}
