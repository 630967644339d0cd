// Not a test: measures how long pages take to become interactive (hydrated) over an emulated 20 Mbit/s
// link with 20 ms of latency, first visit (empty cache) and a later visit (the hashed site files come from
// the browser's cache), and how many bytes travel. Prints medians of a few runs. `make tti` runs it
// against the release build.
import { launch } from '../tests/browser.mjs';

const BASE_URL = process.env.BASE_URL || 'http://127.0.0.1:3000';
const RUNS = Number(process.env.RUNS || 5);
const PAGES = ['/', '/login', '/prices'];
const LINK = { offline: false, latency: 20, downloadThroughput: (20e6 / 8), uploadThroughput: (5e6 / 8) };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/// Loads `path` in `page` and returns [ms until hydrated, bytes received].
async function visit(page, cdp, path) {
  let bytes = 0;
  const count = (e) => { bytes += e.encodedDataLength; };
  cdp.on('Network.loadingFinished', count);
  const start = Date.now();
  await page.goto(BASE_URL + path, { waitUntil: 'commit' });
  await page.waitForSelector('body[data-hydrated]', { state: 'attached', timeout: 120000 });
  const ms = Date.now() - start;
  cdp.off('Network.loadingFinished', count);
  return [ms, bytes];
}

const browser = await launch();
console.log(`time to interactive over ${LINK.downloadThroughput * 8 / 1e6} Mbit/s, ${LINK.latency} ms latency; median of ${RUNS}`);
console.log('page        first visit          later visit');
for (const path of PAGES) {
  const first = [], later = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', LINK);
    first.push(await visit(page, cdp, path));
    later.push(await visit(page, cdp, path));
    await context.close();
  }
  const show = (runs) => `${String(median(runs.map((r) => r[0]))).padStart(5)} ms ${String(Math.round(median(runs.map((r) => r[1])) / 1024)).padStart(5)} KiB`;
  console.log(`${path.padEnd(10)} ${show(first)}   ${show(later)}`);
}
await browser.close();
