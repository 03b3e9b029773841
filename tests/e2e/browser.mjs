// A real browser against billrun: Debian's Chromium driven by playwright-core.
//   1. GraphiQL, served by billrun, loads and works with no network beyond
//      localhost (every other request is blocked and none may be attempted);
//      a query and a subscription are typed into its editors and run.
//   2. A page of an origin in --cors-origins and one of an origin that is not
//      both POST /graphql and open a graphql-transport-ws WebSocket: the first
//      gets data both ways, the second gets a CORS error and a refused socket.
// Usage:
//   node browser.mjs http://127.0.0.1:PORT <admin JWT> <ALLOWED_PAGE_PORT>
// where the server runs with --cors-origins http://127.0.0.1:ALLOWED_PAGE_PORT.
// CHROMIUM names the browser (default: Debian's /usr/lib/chromium/chromium).
// A missing browser is a failure, never a skip. Prints
// "browser: N passed, N failed" and exits non-zero on any failure.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { post, tally } from './harness.mjs';
import { chromium } from 'playwright-core';

const [base, token, allowedPort] = process.argv.slice(2);
if (!base || !token || !allowedPort) {
  console.error('usage: node browser.mjs BASE_URL TOKEN ALLOWED_PAGE_PORT');
  process.exit(2);
}
const { check, summary } = tally();

const finish = () => summary('browser');

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
function isLocal(url) {
  const u = new URL(url);
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return true; // data:, blob:, about:
  return LOCAL_HOSTS.has(u.hostname);
}

const gql = (query, variables) => post(base, token, query, variables);

function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium']
    .filter(Boolean);
  return candidates.find((p) => existsSync(p));
}

// ---- GraphiQL -------------------------------------------------------------

const resultText = () => document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '';

async function typeInto(page, editor, text) {
  await editor.click();
  await page.keyboard.press('Control+A');
  // insertText, as a paste: no key events, so no auto-closed brackets.
  await page.keyboard.insertText(text);
  // GraphiQL takes an edit into its state (operation name, headers) after
  // a debounce; running before that would run the previous text.
  await page.waitForTimeout(1000);
  return editor.evaluate((el) => el.CodeMirror.getValue());
}

async function graphiql(context, attempted) {
  const code = `BR${Date.now().toString(36).toUpperCase().slice(-6)}`;
  const { createLegalEntity: entity } = await gql(
    'mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id } }',
    { i: { code, name: 'Browser', currency: 'EUR', country: 'EE', timezone: 'Europe/Tallinn' } },
  );
  const { createCustomer: customer } = await gql(
    'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
    { i: { legalEntityId: entity.id, name: 'Chromium', email: 'ap@chromium.test' } },
  );
  for (let i = 0; i < 12; i += 1) {
    await gql('mutation($i: CreateContractInput!) { createContract(input: $i) { id } }', {
      i: { customerId: customer.id, startDate: '2026-01-01', interval: 'YEAR',
           lines: [{ description: 'Plan', quantity: '1', unitPrice: '10.00' }] },
    });
  }

  const page = await context.newPage();
  const cspViolations = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const sent = [];
  const sockets = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framesent', (f) => sent.push(String(f.payload)));
  });

  await page.goto(base + '/', { waitUntil: 'load' });
  await page.locator('.graphiql-container').waitFor({ timeout: 30000 });
  check('graphiql: the page renders from billrun alone', pageErrors.length === 0, pageErrors.join('; '));

  const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  const typed = await typeInto(page, headers, JSON.stringify({ Authorization: `Bearer ${token}` }));
  check('graphiql: the token is typed into the Headers editor', typed.includes(token));

  // Until the headers reach GraphiQL's state the fetcher still sees the
  // placeholder and answers with its hint, sending nothing: try again.
  let schemaResponse = null;
  for (let i = 0; i < 10 && !schemaResponse; i += 1) {
    const introspection = page.waitForResponse((r) => r.url() === `${base}/graphql`
      && (r.request().postData() ?? '').includes('IntrospectionQuery'), { timeout: 2000 });
    await page.getByRole('button', { name: 'Re-fetch GraphQL schema' }).click();
    schemaResponse = await introspection.catch(() => null);
  }
  check('graphiql: the schema is fetched with the token', schemaResponse?.status() === 200,
    `status ${schemaResponse?.status()}`);
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Subscription', { exact: true }).waitFor({ timeout: 20000 });
  const docsText = await docs.innerText();
  check('graphiql: the docs show the contract\'s roots Query, Mutation and Subscription',
    ['Query', 'Mutation', 'Subscription'].every((t) => docsText.includes(t)), docsText.slice(0, 300));

  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
  const execute = page.locator('.graphiql-execute-button');
  await typeInto(page, queryEditor, 'query Entities {\n  legalEntities { id code }\n}\n');
  await execute.click();
  await page.waitForFunction((c) => {
    const text = document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '';
    return text.includes(c);
  }, code, { timeout: 20000 }).catch(() => {});
  const queried = await page.evaluate(resultText);
  check('graphiql: a query typed in the editor returns data', queried.includes(code) && !queried.includes('"errors"'),
    queried.slice(0, 300));

  await typeInto(page, queryEditor,
    `subscription Progress {\n  billingRunUpdated(legalEntityId: "${entity.id}") { status processedCount contractCount }\n}\n`);
  await execute.click();
  for (let i = 0; i < 100 && !sent.some((f) => f.includes('"subscribe"')); i += 1) {
    await page.waitForTimeout(100);
  }
  check('graphiql: the subscription goes over graphql-transport-ws with the token in connection_init',
    sockets.includes(`${base.replace(/^http/, 'ws')}/graphql/ws`)
      && sent.some((f) => f.includes('connection_init') && f.includes(token))
      && sent.some((f) => f.includes('"subscribe"')),
    JSON.stringify({ sockets, sent: sent.map((f) => f.slice(0, 60)) }));
  await page.waitForTimeout(300);
  await gql('mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: "2026-06-30" }) { runs { id } } }',
    { e: entity.id });
  await page.waitForFunction(() => {
    const text = document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '';
    return text.includes('COMPLETED');
  }, null, { timeout: 30000 }).catch(() => {});
  const live = await page.evaluate(resultText);
  check('graphiql: the subscription shows the run COMPLETED with its counts',
    live.includes('"COMPLETED"') && /"processedCount":\s*12/.test(live) && /"contractCount":\s*12/.test(live),
    live.slice(0, 300));
  check('graphiql: no Content-Security-Policy violation on the way', cspViolations.length === 0,
    cspViolations.join('; '));
  check('graphiql: nothing beyond localhost was requested', attempted.length === 0, attempted.join(' '));
  await page.close();
}

// ---- Pages of other origins -------------------------------------------------

// The page a front end on another origin would be: a fetch with the token and
// a graphql-transport-ws socket that runs one query. Inline script: this page
// is not billrun's, it has no CSP.
const OTHER_PAGE = `<!DOCTYPE html><meta charset="utf-8"><title>another origin</title>
<script>
window.probe = async function (base, token) {
  const out = {};
  try {
    const res = await fetch(base + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify({ query: '{ legalEntities { id } }' }),
    });
    const body = await res.json();
    out.fetch = Array.isArray(body.data && body.data.legalEntities) ? 'data' : 'no data ' + JSON.stringify(body);
  } catch (e) {
    out.fetch = 'error ' + e.name + ': ' + e.message;
  }
  out.ws = await new Promise(function (resolve) {
    let acked = false;
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/graphql/ws', 'graphql-transport-ws');
    const timer = setTimeout(function () { resolve('timeout'); ws.close(); }, 10000);
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer ' + token } }));
    };
    ws.onmessage = function (ev) {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'connection_ack') {
        acked = true;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ legalEntities { id } }' } }));
      } else if (msg.type === 'next') {
        clearTimeout(timer);
        resolve(Array.isArray(msg.payload.data && msg.payload.data.legalEntities) ? 'data' : 'next ' + ev.data);
        ws.close(1000);
      }
    };
    ws.onclose = function (ev) {
      clearTimeout(timer);
      resolve('closed ' + ev.code + (acked ? ' after ack' : ' before ack'));
    };
  });
  return out;
};
</script>
<p>another origin</p>`;

function pageServer(port) {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(OTHER_PAGE);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

async function probeFrom(context, origin) {
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(origin + '/', { waitUntil: 'load' });
  const out = await page.evaluate(([b, t]) => window.probe(b, t), [base, token]);
  await page.close();
  return { ...out, console: logs };
}

async function otherOrigins(context, attempted) {
  const allowed = await pageServer(Number(allowedPort));
  const refused = await pageServer(0);
  try {
    const ok = await probeFrom(context, allowed.origin);
    check(`allowed origin ${allowed.origin}: fetch gets data`, ok.fetch === 'data', ok.fetch);
    check(`allowed origin ${allowed.origin}: the WebSocket is acknowledged and runs a query`, ok.ws === 'data', ok.ws);

    const no = await probeFrom(context, refused.origin);
    check(`refused origin ${refused.origin}: fetch fails with a CORS error`,
      no.fetch.startsWith('error TypeError') && no.console.some((l) => /CORS policy/.test(l)),
      JSON.stringify(no));
    check(`refused origin ${refused.origin}: the WebSocket is refused before any ack`,
      /^closed \d+ before ack$/.test(no.ws), no.ws);
    check('other origins: nothing beyond localhost was requested', attempted.length === 0, attempted.join(' '));
  } finally {
    allowed.server.close();
    refused.server.close();
  }
}

// ---- Run --------------------------------------------------------------------

const executablePath = chromiumPath();
if (!executablePath) {
  check('Chromium is installed (apt-get install chromium)', false,
    'no browser at $CHROMIUM, /usr/lib/chromium/chromium or /usr/bin/chromium');
  finish();
}
const args = [
  // Belt and braces beside the request routing below: no host name but
  // localhost resolves in this browser.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];
if (process.getuid?.() === 0) args.push('--no-sandbox');
const browser = await chromium.launch({ executablePath, args });
try {
  console.log(`browser: ${executablePath} ${browser.version()}`);
  const context = await browser.newContext();
  const attempted = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    attempted.push(url);
    return route.abort('blockedbyclient');
  });
  // The guard itself: a request beyond localhost is caught and recorded.
  const probe = await context.newPage();
  const reached = await probe.evaluate(() => fetch('http://guard-self-test.invalid/').then(() => true, () => false));
  await probe.close();
  check('the guard blocks and records a request beyond localhost',
    !reached && attempted.length === 1 && attempted[0].startsWith('http://guard-self-test.invalid'),
    JSON.stringify(attempted));
  attempted.length = 0;

  await graphiql(context, attempted);
  await otherOrigins(context, attempted);
  await context.close();
} catch (e) {
  check('browser run', false, String(e?.stack ?? e));
} finally {
  await browser.close();
}
finish();
