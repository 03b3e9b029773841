// Apollo Client 4 and urql 6 against the real server, as a front end uses
// them: root fragments `on Query`, Apollo's normalised cache updated by a
// mutation's answer (thanks to the ids), AR aging rows of two dates kept
// apart in that cache, and error codes as each client surfaces them.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Client, fetchExchange } from '@urql/core';
import { post } from './harness.mjs';

const ENTITIES = `fragment Entities on Query { legalEntities { id code } }
query Listed { ...Entities }`;
const AGENTS = gql`query Agents { agentDefinitions { id key config { id autoPostInvoices } } }`;
const FLIP = gql`mutation Flip($on: Boolean!) {
  updateBillingAgentConfig(input: { autoPostInvoices: $on }) { id autoPostInvoices } }`;
const NO_ENTITY = `mutation { createCustomer(input: { legalEntityId: "999999", name: "Nobody" }) { id } }`;

const codeOf = (errors) => errors?.[0]?.extensions?.code;

async function apollo({ base, token, check }) {
  const client = new ApolloClient({
    link: new HttpLink({ uri: `${base}/graphql`, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache(),
  });
  const listed = await client.query({ query: gql(ENTITIES) });
  check('apollo: a root fragment on Query is read, not {}',
    Array.isArray(listed.data?.legalEntities), JSON.stringify(listed.data));

  const before = await client.query({ query: AGENTS });
  const was = before.data.agentDefinitions[0].config.autoPostInvoices;
  await client.mutate({ mutation: FLIP, variables: { on: !was } });
  const cached = client.readQuery({ query: AGENTS });
  check('apollo: the cache shows the config updateBillingAgentConfig returned',
    cached?.agentDefinitions?.[0]?.config?.autoPostInvoices === !was, JSON.stringify(cached));
  await client.mutate({ mutation: FLIP, variables: { on: was } });

  let code;
  try {
    const result = await client.mutate({ mutation: gql(NO_ENTITY) });
    code = codeOf(result.error?.errors);
  } catch (err) {
    code = codeOf(err.errors);
  }
  check('apollo: a missing entity arrives as extensions.code NOT_FOUND', code === 'NOT_FOUND', String(code));
  client.stop();
}

async function urql({ base, token, check }) {
  const client = new Client({
    url: `${base}/graphql`,
    exchanges: [fetchExchange],
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
  const listed = await client.query(ENTITIES, {}).toPromise();
  check('urql: a root fragment on Query is read (GET)',
    Array.isArray(listed.data?.legalEntities), JSON.stringify(listed.error ?? listed.data));
  const invalid = await client.query('{ noSuchField }', {}).toPromise();
  check('urql: a validation error arrives with BAD_USER_INPUT',
    codeOf(invalid.error?.graphQLErrors) === 'BAD_USER_INPUT', String(invalid.error));
  const missing = await client.mutation(NO_ENTITY, {}).toPromise();
  check('urql: a missing entity arrives with NOT_FOUND',
    codeOf(missing.error?.graphQLErrors) === 'NOT_FOUND', String(missing.error));
  const anonymous = new Client({ url: `${base}/graphql`, exchanges: [fetchExchange] });
  const refused = await anonymous.query('{ legalEntities { id } }', {}).toPromise();
  check('urql: no token arrives with UNAUTHENTICATED',
    codeOf(refused.error?.graphQLErrors) === 'UNAUTHENTICATED', String(refused.error));
}

const AGING = gql`query Aging($e: ID!, $d: Date) {
  arAging(legalEntityId: $e, asOf: $d) { asOf rows { id buckets { current total } } } }`;


// Two AR aging reports of one customer, as of two dates, in one Apollo
// cache: each keeps its own row (the row id names the report's date).
async function apolloAging(context) {
  const { base, token, check } = context;
  const code = `AG${Date.now().toString(36).toUpperCase().slice(-6)}`;
  const { createLegalEntity: e } = await post(base, token,
    'mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id } }',
    { i: { code, name: 'Aging', currency: 'EUR', country: 'EE', timezone: 'Europe/Tallinn' } });
  const { createCustomer: c } = await post(base, token,
    'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
    { i: { legalEntityId: e.id, name: 'Late Payer' } });
  await post(base, token, 'mutation($i: CreateContractInput!) { createContract(input: $i) { id } }', {
    i: { customerId: c.id, startDate: '2026-01-01', interval: 'MONTH',
         lines: [{ description: 'Plan', quantity: '1', unitPrice: '10.00' }] },
  });
  await post(base, token, 'mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: "2026-03-01", wait: true }) { runs { id } } }',
    { e: e.id });
  const client = new ApolloClient({
    link: new HttpLink({ uri: `${base}/graphql`, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache(),
  });
  const early = await client.query({ query: AGING, variables: { e: e.id, d: '2026-03-01' } });
  const late = await client.query({ query: AGING, variables: { e: e.id, d: '2026-06-01' } });
  const cachedEarly = client.readQuery({ query: AGING, variables: { e: e.id, d: '2026-03-01' } });
  const row = (r) => r?.arAging?.rows?.[0];
  check('apollo: two aging dates of one customer keep their own rows in the cache',
    row(early.data)?.buckets?.current !== row(late.data)?.buckets?.current
      && row(early.data)?.id !== row(late.data)?.id
      && row(cachedEarly)?.buckets?.current === row(early.data)?.buckets?.current,
    JSON.stringify({ early: row(early.data), late: row(late.data), cachedEarly: row(cachedEarly) }));
  client.stop();
}

export async function realClients(context) {
  await apollo(context);
  await apolloAging(context);
  await urql(context);
}
