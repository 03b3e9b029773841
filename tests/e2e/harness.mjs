// Shared by the end-to-end scripts: a pass/fail tally and one GraphQL POST
// with a bearer token, as a front end sends it.

// `check(name, ok, detail)` records one result; `summary(label)` prints
// "label: N passed, N failed" and exits non-zero on any failure.
export function tally() {
  let passed = 0;
  let failed = 0;
  return {
    check(name, ok, detail = '') {
      if (ok) {
        passed += 1;
        console.log(`ok   ${name}`);
      } else {
        failed += 1;
        console.log(`FAIL ${name} ${detail}`);
      }
    },
    summary(label) {
      console.log(`${label}: ${passed} passed, ${failed} failed`);
      process.exit(failed === 0 ? 0 : 1);
    },
  };
}

// The `data` of one POST to BASE/graphql; throws on GraphQL errors.
export async function post(base, token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
