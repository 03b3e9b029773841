// billrun's GraphiQL page: queries and mutations over POST /graphql,
// subscriptions over /graphql/ws (graphql-transport-ws, through the
// graphql-ws client bundled in graphiql.min.js). A file, not an inline
// script: the page's Content-Security-Policy allows scripts from 'self' only.
//
// Every request needs `Authorization: Bearer <JWT>`. Until the Headers tab
// holds one, the fetcher answers itself with a hint instead of sending a
// request the server would refuse, so the first schema fetch waits for the
// token instead of showing a bare 401.
(function () {
  'use strict';

  var HINT = 'billrun needs a token: in the Headers tab below, set ' +
    '{"Authorization": "Bearer <JWT>"} (for development, `billrun token` prints one), ' +
    'then re-fetch the schema (Shift+Ctrl+R).';
  var PLACEHOLDER = '{\n  "Authorization": "Bearer <paste a JWT here>"\n}';

  function endpoint(path, websocket) {
    var url = new URL(path, window.location.href);
    if (websocket) {
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    }
    return url.toString();
  }

  function hasToken(headers) {
    return Object.keys(headers || {}).some(function (name) {
      var value = String(headers[name]);
      return name.toLowerCase() === 'authorization' &&
        /^Bearer\s+[^\s<>]+$/.test(value.trim());
    });
  }

  var server = GraphiQL.createFetcher({
    url: endpoint('/graphql'),
    subscriptionUrl: endpoint('/graphql/ws', true),
  });

  function fetcher(params, options) {
    var headers = options && options.headers;
    var ready = hasToken(headers);
    var hint = document.getElementById('billrun-hint');
    if (hint) {
      hint.className = ready ? 'has-token' : '';
    }
    if (!ready) {
      return Promise.resolve({
        errors: [{ message: HINT, extensions: { code: 'UNAUTHENTICATED' } }],
      });
    }
    return server(params, options);
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: PLACEHOLDER,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      defaultQuery: '# ' + HINT + '\n\nquery {\n  legalEntities { id code name currency }\n}\n',
    })
  );
})();
