//! The operator's Kubernetes client: kube's own middleware (base URI, retries, credentials,
//! extra headers) over a hyper client whose HTTP/1.1 read buffers stay at a fixed size.
//!
//! Why not `kube::Client::try_default()`: kube 5 speaks HTTP/1.1 only, so every watch holds a
//! connection of its own (13 of them, one per cached kind), and hyper's default read buffer
//! adapts upwards — doubling each time a read fills it, up to ~400 kB — and never gives the
//! memory back. After a bring-up's large lists the watch connections' buffers held ~0.9 MB
//! of a 30 MB budget (session 24's heap profile at 500 systems). A fixed 8 kB buffer costs a
//! few more reads of a large list and nothing else: bodies are handed on as they arrive.
//!
//! A configuration this stack does not reproduce (a proxy; exec credentials, whose client
//! certificate expires) gets kube's default client, unchanged.

use anyhow::Context as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt as _;
use kube::client::retry::RetryPolicy;
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// The read buffer of every connection to the API server, in bytes: hyper's own starting size.
pub const READ_BUFFER: usize = 8 * 1024;

/// The client for the configuration found in the cluster or in KUBECONFIG.
pub async fn infer() -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    from_config(config)
}

/// The client for `config` (see the module's doc for what differs from kube's default).
pub fn from_config(config: kube::Config) -> anyhow::Result<kube::Client> {
    if config.proxy_url.is_some() || config.auth_info.exec.is_some() {
        return kube::Client::try_from(config).context("building the Kubernetes client");
    }
    let mut http = HttpConnector::new();
    // The API server's URL is https; the TLS connector below wraps this one.
    http.enforce_http(false);
    let https = config
        .rustls_https_connector_with_connector(http)
        .context("the API server's TLS settings")?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Builder::new(TokioExecutor::new())
        .http1_read_buf_exact_size(READ_BUFFER)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer().context("the API server credentials")?)
        .layer(
            config
                .extra_headers_layer()
                .context("the configured headers")?,
        )
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams};
    use std::time::Duration;

    /// How long a test waits for its local server.
    const TEST_WAIT: Duration = Duration::from_secs(10);

    /// A list of `n` ConfigMaps of ~1 kB each, sent in 1 kB chunks (as the API server streams
    /// a large list), only to a caller with the configured token.
    async fn serve(n: usize) -> (String, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new().route(
            "/api/v1/namespaces/{ns}/configmaps",
            axum::routing::get(move |headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    != Some("Bearer test-token")
                {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let items: Vec<_> = (0..n)
                    .map(|i| {
                        serde_json::json!({"metadata": {"name": format!("cm-{i}")},
                            "data": {"v": "x".repeat(1000)}})
                    })
                    .collect();
                let text = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMapList",
                    "metadata": {"resourceVersion": "7"}, "items": items})
                .to_string()
                .into_bytes();
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    text.chunks(1024).map(|c| Ok(c.to_vec())).collect();
                Response::new(Body::from_stream(futures::stream::iter(chunks)))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://{addr}"), task)
    }

    fn config(url: &str) -> kube::Config {
        let mut c = kube::Config::new(url.parse().unwrap());
        c.auth_info.token = Some("test-token".to_string().into());
        c.default_namespace = "ovu-test".into();
        c
    }

    #[tokio::test]
    async fn a_list_much_larger_than_the_read_buffer_arrives_whole_with_the_credentials() {
        let (url, task) = serve(3000).await;
        let client = from_config(config(&url)).unwrap();
        let api: Api<ConfigMap> = Api::default_namespaced(client);
        let list = tokio::time::timeout(TEST_WAIT, api.list(&ListParams::default()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(list.items.len(), 3000, "every item of a ~3 MB list");
        assert_eq!(list.items[2999].metadata.name.as_deref(), Some("cm-2999"));
        assert_eq!(
            list.items[0].data.as_ref().unwrap()["v"].len(),
            1000,
            "values arrive whole across chunk and buffer boundaries"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_client_without_the_credentials_is_refused() {
        let (url, task) = serve(1).await;
        let mut c = config(&url);
        c.auth_info.token = None;
        let api: Api<ConfigMap> = Api::default_namespaced(from_config(c).unwrap());
        let err = tokio::time::timeout(TEST_WAIT, api.list(&ListParams::default()))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, kube::Error::Api(s) if s.code == 401),
            "the server saw no token: {err}"
        );
        task.abort();
    }
}
