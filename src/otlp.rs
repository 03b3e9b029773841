//! OpenTelemetry export, `--otlp-endpoint` (only in a billrun built with
//! `--features otlp`): the `tracing` spans, each request's first, go over
//! OTLP/HTTP (protobuf) to `<endpoint>/v1/traces`, and a request's W3C
//! `traceparent` is its span's parent, so billrun's spans join the caller's
//! trace. A default build has none of it and refuses the setting, rather
//! than ignoring it.

use axum::http::HeaderMap;

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error(
        "--otlp-endpoint (BILLRUN_OTLP_ENDPOINT) is set, but this billrun was built \
         without OpenTelemetry: build it with `cargo build --features otlp`, or unset it"
    )]
    NotBuilt,
    #[error("the OTLP exporter for {endpoint} could not start: {reason}")]
    Exporter { endpoint: String, reason: String },
}

/// Where spans go: the OTLP/HTTP traces path under the endpoint, unless
/// the endpoint names it already.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim().trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(not(feature = "otlp"))]
mod imp {
    use super::*;

    /// Never made in a build without the feature.
    pub struct Exporter(());

    pub fn start(endpoint: &str) -> Result<Option<Exporter>, OtlpError> {
        if endpoint.trim().is_empty() {
            Ok(None)
        } else {
            Err(OtlpError::NotBuilt)
        }
    }

    pub fn layer(_: Option<&Exporter>) -> Option<tracing_subscriber::layer::Identity> {
        None
    }

    pub fn set_parent(_: &tracing::Span, _: &HeaderMap) {}

    impl Exporter {
        pub fn shutdown(self) {}
    }
}

#[cfg(feature = "otlp")]
mod imp {
    use super::*;
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
    use opentelemetry_sdk::Resource;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::registry::LookupSpan;

    /// The running exporter; [`Exporter::shutdown`] sends what is batched.
    pub struct Exporter {
        provider: SdkTracerProvider,
        tracer: Tracer,
    }

    pub fn start(endpoint: &str) -> Result<Option<Exporter>, OtlpError> {
        if endpoint.trim().is_empty() {
            return Ok(None);
        }
        let url = traces_url(endpoint);
        let failed = |reason: String| OtlpError::Exporter {
            endpoint: url.clone(),
            reason,
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("billrun").build())
            .build();
        let tracer = provider.tracer("billrun");
        Ok(Some(Exporter { provider, tracer }))
    }

    pub fn layer<S>(
        exporter: Option<&Exporter>,
    ) -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, Tracer>>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        exporter.map(|e| tracing_opentelemetry::layer().with_tracer(e.tracer.clone()))
    }

    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key)?.to_str().ok()
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    /// The request's `traceparent` (if valid) becomes the span's parent.
    pub fn set_parent(span: &tracing::Span, headers: &HeaderMap) {
        if headers.contains_key("traceparent") {
            let parent = TraceContextPropagator::new().extract(&Headers(headers));
            let _ = span.set_parent(parent);
        }
    }

    impl Exporter {
        pub fn shutdown(self) {
            if let Err(err) = self.provider.shutdown() {
                eprintln!("OTLP exporter shutdown: {err}");
            }
        }
    }
}

pub use imp::{layer, set_parent, start, Exporter};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_go_to_the_traces_path_of_the_endpoint() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn an_empty_endpoint_is_off() {
        assert!(matches!(start(""), Ok(None)));
        assert!(matches!(start("  "), Ok(None)));
    }

    #[cfg(not(feature = "otlp"))]
    #[test]
    fn without_the_feature_an_endpoint_is_refused_with_how_to_get_it() {
        let err = start("http://127.0.0.1:4318").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("--features otlp")),
            "{err:?}"
        );
    }
}
