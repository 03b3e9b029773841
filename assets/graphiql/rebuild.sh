#!/usr/bin/env bash
# Refreshes dist/ (GraphiQL and React's browser builds, compiled into the
# billrun binary by src/http/graphiql.rs) from the versions pinned in
# package-lock.json. `cargo build` never runs this and needs no Node; run it
# after changing package.json (then `npm install` first to update the lock).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
mkdir -p dist
cp node_modules/graphiql/graphiql.min.js node_modules/graphiql/graphiql.min.css dist/
cp node_modules/react/umd/react.production.min.js dist/
cp node_modules/react-dom/umd/react-dom.production.min.js dist/
for f in node_modules/graphiql/LICENSE; do cp "$f" dist/GRAPHIQL-LICENSE; done
cp node_modules/react/LICENSE dist/REACT-LICENSE
echo "dist/ rebuilt:"; ls -l dist/
