// Opens examples/web/index.html in headless Chromium with a detect export, feeds it an image as a user
// would (the file picker), waits for the drawn result and writes what the page found.
//
//   node tests/web/example_page.mjs MODEL.onnx IMAGE.jpg CONF LETTERBOX_640.npy SCREENSHOT.png OUT.json
//
// The page's own letterboxed input is written next to OUT.json as OUT.letterbox.npy (HxWx3 uint8 RGB).
// OUT.json: {"image": [w, h], "boxes": [[x1, y1, x2, y2, score, class, name], ...], "ms": run time,
// "letterbox_mean_abs_diff" / "letterbox_max_abs_diff": the page's letterboxed RGB against
// LETTERBOX_640.npy (HxWx3 uint8, Ultralytics' LetterBox of the same image)}. Errors exit non-zero.
import { chromiumSession, startServer } from './lib.mjs';
import { readFileSync, writeFileSync } from 'node:fs';

function readU8Npy(path) {
  const buf = readFileSync(path);
  const len = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + len).toString('latin1');
  if (buf[6] !== 1 || !/'descr':\s*'\|u1'/.test(header)) throw new Error(`${path}: expected a v1 uint8 .npy`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  return { shape, data: buf.subarray(10 + len) };
}

async function main() {
  const [model, image, conf, refPath, screenshot, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: example_page.mjs MODEL IMAGE CONF LETTERBOX.npy SCREENSHOT.png OUT.json');
  const server = await startServer((url) =>
    url === '/model.onnx' ? { body: readFileSync(model), type: 'application/octet-stream' } : null,
  );
  const page_url = `${server.origin}/examples/web/index.html?ort=/ort/&model=/model.onnx&conf=${conf}`;
  const { browser, page } = await chromiumSession(page_url);
  try {
    const status = page.locator('#status');
    const settle = async (what) => {
      await page.waitForFunction(
        (w) => w.includes(document.getElementById('status').dataset.state),
        what, { timeout: 120000 },
      );
      if ((await status.getAttribute('data-state')) === 'error') throw new Error(`page: ${await status.textContent()}`);
    };
    await settle(['ready', 'error']);
    await page.setInputFiles('#image', image);
    await settle(['done', 'error']);
    const r = await page.evaluate(() => {
      const { image, letterbox, boxes, ms } = window.onnxideResult;
      let s = '';
      for (let k = 0; k < letterbox.length; k += 0x8000) s += String.fromCharCode(...letterbox.subarray(k, k + 0x8000));
      return { image, ms, rgba: btoa(s), boxes: boxes.map((b) => [b.x1, b.y1, b.x2, b.y2, b.score, b.cls, b.name]) };
    });
    await page.locator('#canvas').screenshot({ path: screenshot });
    const rgba = Buffer.from(r.rgba, 'base64');
    const ref = readU8Npy(refPath);
    if (rgba.length / 4 !== ref.data.length / 3) throw new Error(`letterbox size ${rgba.length / 4} px vs reference ${ref.shape}`);
    let sum = 0, max = 0;
    for (let i = 0, n = ref.data.length / 3; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(rgba[4 * i + c] - ref.data[3 * i + c]);
        sum += d;
        max = Math.max(max, d);
      }
    }
    const out = {
      image: r.image, boxes: r.boxes, ms: r.ms,
      letterbox_mean_abs_diff: sum / ref.data.length, letterbox_max_abs_diff: max,
    };
    writeFileSync(outPath, JSON.stringify(out));
    const rgb = Buffer.alloc(ref.data.length);
    for (let i = 0, n = ref.data.length / 3; i < n; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c];
    let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${ref.shape.join(', ')}), }`;
    header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
    writeFileSync(outPath.replace(/\.json$/, '') + '.letterbox.npy', Buffer.concat([pre, Buffer.from(header, 'latin1'), rgb]));
    console.log(`${await status.textContent()}; letterbox vs reference: mean |d| ${out.letterbox_mean_abs_diff.toFixed(3)}, max ${max} (of 255); screenshot ${screenshot}`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(`example_page.mjs: error: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
