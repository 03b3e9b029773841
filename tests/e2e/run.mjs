// End-to-end: billrun's subscriptions through the real `graphql-ws` client,
// as GraphiQL, Apollo and urql use it, then Apollo Client and urql over
// HTTP (clients.mjs). Usage:
//   node run.mjs http://127.0.0.1:PORT <admin JWT>
// Prints "e2e: N passed, N failed" and exits non-zero on any failure.
import { createServer } from 'node:http';
import { post, tally } from './harness.mjs';
import { createClient } from 'graphql-ws';
import standardwebhooks from 'standardwebhooks';
import WebSocket from 'ws';
import { realClients } from './clients.mjs';

const { Webhook } = standardwebhooks;

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node run.mjs BASE_URL TOKEN');
  process.exit(2);
}
const wsUrl = base.replace(/^http/, 'ws') + '/graphql/ws';
const { check, summary } = tally();

const gql = (query, variables) => post(base, token, query, variables);

function withTimeout(promise, ms, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)),
  ]);
}

async function refusedWithoutToken() {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    connectionParams: {},
  });
  let acked = false;
  client.on('connected', () => { acked = true; });
  const outcome = await withTimeout(new Promise((resolve) => {
    client.subscribe(
      { query: 'subscription { billingRunUpdated { status } }' },
      { next: () => resolve('data'), error: (e) => resolve(e), complete: () => resolve('complete') },
    );
  }), 10000, 'refusal without a token');
  client.dispose();
  check('no token: refused with 4403 Forbidden before any data',
    !acked && outcome?.code === 4403,
    `acked=${acked} outcome=${JSON.stringify(outcome?.code ?? outcome)}`);
}

async function runProgressLive() {
  const suffix = Date.now().toString(36).toUpperCase().slice(-6);
  const { createLegalEntity: entity } = await gql(
    'mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id } }',
    { i: { code: `E2E${suffix}`, name: 'E2E', currency: 'EUR', country: 'EE', timezone: 'Europe/Tallinn' } },
  );
  const { createCustomer: customer } = await gql(
    'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
    { i: { legalEntityId: entity.id, name: 'Bolt', email: 'ap@bolt.eu' } },
  );
  const contracts = 25;
  for (let i = 0; i < contracts; i += 1) {
    await gql('mutation($i: CreateContractInput!) { createContract(input: $i) { id } }', {
      i: { customerId: customer.id, startDate: '2026-01-01', interval: 'YEAR',
           lines: [{ description: 'Plan', quantity: '1', unitPrice: '49.00' }] },
    });
  }
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { Authorization: `Bearer ${token}` },
  });
  const seen = [];
  const done = new Promise((resolve, reject) => {
    client.subscribe(
      {
        query: 'subscription($e: ID) { billingRunUpdated(legalEntityId: $e) { id status processedCount contractCount invoiceCount invoiceTotal } }',
        variables: { e: entity.id },
      },
      {
        next: ({ data, errors }) => {
          if (errors) return reject(new Error(JSON.stringify(errors)));
          seen.push(data.billingRunUpdated);
          const s = data.billingRunUpdated.status;
          if (s === 'COMPLETED' || s === 'FAILED') resolve();
        },
        error: reject,
        complete: () => resolve(),
      },
    );
  });
  // Give the subscription a moment to register before triggering.
  await new Promise((r) => setTimeout(r, 300));
  await gql('mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: "2026-06-30" }) { runs { id } } }',
    { e: entity.id });
  await withTimeout(done, 20000, 'run to complete');
  client.dispose();
  const statuses = seen.map((r) => r.status);
  const last = seen[seen.length - 1] ?? {};
  check('subscription sees RUNNING before COMPLETED',
    statuses.includes('RUNNING') && statuses.indexOf('RUNNING') < statuses.lastIndexOf('COMPLETED'),
    JSON.stringify(statuses));
  check('final update carries the counts',
    last.status === 'COMPLETED' && last.contractCount === contracts && last.processedCount === contracts
      && last.invoiceCount === contracts && last.invoiceTotal === (49 * contracts).toFixed(2),
    JSON.stringify(last));
}

// A receiver on 127.0.0.1 (the server runs with --webhook-allow-hosts
// 127.0.0.1): resolves with the first request's raw body and headers.
function receiver() {
  let got;
  const first = new Promise((resolve) => { got = resolve; });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(204).end();
      got({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, first, port: server.address().port }));
  });
}

// A billing_run.completed webhook, verified with the official Standard
// Webhooks package (an implementation independent of billrun's).
async function webhookVerified() {
  const { server, first, port } = await receiver();
  const suffix = Date.now().toString(36).toUpperCase().slice(-6);
  const { createLegalEntity: entity } = await gql(
    'mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id } }',
    { i: { code: `WH${suffix}`, name: 'Hooks', currency: 'EUR', country: 'EE', timezone: 'Europe/Tallinn' } },
  );
  const { createWebhookEndpoint: made } = await gql(
    'mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id } } }',
    { i: { url: `http://127.0.0.1:${port}/hook`, legalEntityId: entity.id, eventTypes: ['billing_run.completed'] } },
  );
  await gql('mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: "2026-06-30", wait: true }) { runs { id } } }',
    { e: entity.id });
  const hit = await withTimeout(first, 20000, 'the webhook to arrive');
  server.close();
  let payload = null;
  try {
    payload = new Webhook(made.secret).verify(hit.body, hit.headers);
  } catch (e) {
    check('webhook signature verifies with standardwebhooks', false, String(e));
    return;
  }
  check('webhook signature verifies with standardwebhooks',
    payload.type === 'billing_run.completed' && payload.data.legalEntityId === entity.id
      && hit.headers['webhook-id'] === payload.data.id,
    JSON.stringify(payload));
  let tampered = false;
  try {
    new Webhook(made.secret).verify(hit.body.replace('completed', 'failed'), hit.headers);
  } catch {
    tampered = true;
  }
  check('a tampered webhook body does not verify', tampered);
}

try {
  await refusedWithoutToken();
  await runProgressLive();
  await realClients({ base, token, check });
  await webhookVerified();
} catch (e) {
  check('e2e run', false, String(e));
}
summary('e2e');
