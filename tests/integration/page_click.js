// page_click.js - drive headless Chromium over the DevTools protocol: open
// pgscope's live page, click "Mark reviewed" on the finding of a rule, and
// wait until the page's script has removed its row. Fails on any script
// error or console error of the page.
//
// usage: node --experimental-websocket page_click.js URL RULE
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, rule] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pgscope-page-'));
const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu',
  '--remote-debugging-port=0', '--user-data-dir=' + profile, 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
let done = false;

function finish(code, msg) {
  if (done) return;
  done = true;
  console.log(msg);
  chrome.kill('SIGKILL');
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}
setTimeout(() => finish(1, 'timed out'), 40000);

let stderr = '';
chrome.stderr.on('data', (d) => {
  stderr += d;
  const m = stderr.match(/DevTools listening on (ws:\/\/\S+)/);
  if (m && !done && !chrome.connected) {
    chrome.connected = true;
    drive(m[1]).catch((e) => finish(1, 'error: ' + e.message));
  }
});
chrome.on('exit', (code) => finish(1, 'chromium exited ' + code + ': ' + stderr));

async function drive(wsUrl) {
  const ws = new WebSocket(wsUrl);
  let next = 1;
  const waiting = new Map();
  const problems = [];
  let loaded;
  const load = new Promise((resolve) => { loaded = resolve; });

  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    } else if (msg.method === 'Page.loadEventFired') {
      loaded();
    } else if (msg.method === 'Runtime.exceptionThrown') {
      problems.push('exception: ' + JSON.stringify(msg.params.exceptionDetails));
    } else if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') {
      problems.push('console.error: ' + JSON.stringify(msg.params.args));
    }
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, sessionId }));
  });

  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Runtime.enable', {}, sessionId);
  await send('Page.enable', {}, sessionId);
  await send('Page.navigate', { url }, sessionId);
  await load;

  // Wait for the row, click its button, wait until the script removed it.
  const expression = `new Promise((resolve) => {
    const rule = ${JSON.stringify(rule)};
    const row = () => [...document.querySelectorAll('form.review')]
      .find((f) => f.elements.rule && f.elements.rule.value === rule);
    const t0 = Date.now();
    let clicked = null;
    const tick = () => {
      const f = row();
      const charts = document.querySelectorAll('.chart svg polyline').length;
      if (!clicked && f && charts === 3) {
        clicked = f.elements.fingerprint.value;
        f.querySelector('button').click();
      } else if (clicked && !f) {
        return resolve('reviewed ' + clicked + ' ' + rule + ' status=[' +
          document.getElementById('status').textContent + ']');
      }
      if (Date.now() - t0 > 20000)
        return resolve('not done: clicked=' + clicked + ' status=[' +
          (document.getElementById('status') || {}).textContent + ']');
      setTimeout(tick, 100);
    };
    tick();
  })`;
  const deadline = Date.now() + 20000;
  let result = null;
  while (Date.now() < deadline) {
    try {
      result = await send('Runtime.evaluate', { expression, awaitPromise: true,
        returnByValue: true }, sessionId);
      break;
    } catch (e) {
      // The page may not exist yet while it navigates: try again.
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const value = result && result.result ? result.result.value : String(result);
  if (problems.length > 0) finish(1, value + '\n' + problems.join('\n'));
  else if (!/^reviewed /.test(value) || !/status=\[\]$/.test(value)) finish(1, value);
  else finish(0, value);
}
