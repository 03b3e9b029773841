//! GraphiQL works without internet (issue 16): the page at `/` loads every
//! script and stylesheet from the server itself, under a
//! Content-Security-Policy that allows only 'self', and says that a token
//! is needed.

use crate::helpers::spawn_app;

/// Every `src="…"` and `href="…"` of the page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_under_a_self_only_csp() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/", app.addr))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        let value = page
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default());
        value.unwrap_or_default().to_string()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{}",
        header("content-type")
    );
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'self'"),
        "a CSP allowing only 'self': {csp}"
    );
    assert!(
        csp.contains("script-src 'self';"),
        "no inline or remote scripts: {csp}"
    );
    for source in csp.split(|c: char| c == ';' || c.is_whitespace()) {
        let external =
            source.contains("://") || source.contains('*') || source == "'unsafe-inline'";
        assert!(
            !external,
            "the CSP names only 'self' (and data: for inlined fonts): {csp}"
        );
    }
    let html = page.text().await.expect("body");
    assert!(!html.contains("://"), "no external URL in the page: {html}");
    assert!(
        html.contains("Authorization"),
        "the page says a token is needed: {html}"
    );
    assert!(
        !html.contains("<style") && !html.contains("<script>"),
        "nothing inline: {html}"
    );

    let refs = references(&html);
    assert!(refs.len() >= 5, "the page's scripts and styles: {refs:?}");
    for path in refs {
        assert!(path.starts_with("/graphiql/"), "served by billrun: {path}");
        let asset = app
            .client
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .expect("asset");
        assert_eq!(asset.status(), 200, "{path}");
        let kind = asset.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        let want = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(kind.starts_with(want), "{path}: {kind}");
        let body = asset.text().await.expect("asset body");
        assert!(body.len() > 100, "{path} has content");
        if path.ends_with("billrun-graphiql.js") {
            assert!(
                body.contains("/graphql/ws"),
                "subscriptions go to the WebSocket endpoint"
            );
            assert!(
                body.contains("Authorization"),
                "the fetcher explains the missing token"
            );
        }
    }
    let missing = app
        .client
        .get(format!("{}/graphiql/nope.js", app.addr))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
}
