//! The HTTP side: tokio + hyper (HTTP/1.1, keep-alive), the check listener,
//! the admin listener (`/healthz`, `/readyz`, `/metrics`), signals and the
//! policy file watch.
//!
//! - SIGTERM or SIGINT: stop accepting, let in-flight requests finish
//!   (connections close after their current request), exit within
//!   `--grace` seconds.
//! - SIGHUP, or a change of the policy file (polled every `--watch-ms`):
//!   reload ([`Shared::reload`]).
//! - Admin endpoints never share the check listener: in `envoy` mode the
//!   check listener's path is the client's path, so a `/healthz` there
//!   would be a route any client could reach without a token.

extern crate std;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::time::Duration;
use std::net::SocketAddr;
use std::path::PathBuf;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use log::{error, info, warn};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use super::check::{self, Answer, Canonical, Mode};
use super::state::Shared;

/// How `jwtgate serve` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy file.
    pub policy: PathBuf,
    /// The check listener.
    pub listen: SocketAddr,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`), if any.
    pub admin: Option<SocketAddr>,
    /// Where the original request comes from.
    pub mode: Mode,
    /// What to do with non-canonical targets.
    pub canonical: Canonical,
    /// Worker threads (each with its own verifier and cache).
    pub threads: usize,
    /// How often the policy file is checked for changes (0: never).
    pub watch: Duration,
    /// How long in-flight requests get after SIGTERM.
    pub grace: Duration,
}

/// Runs the service until SIGTERM/SIGINT. Errors are startup errors (a
/// policy that does not load, an address in use), ready to print.
pub fn serve(options: Options) -> Result<(), String> {
    let shared = Arc::new(Shared::load(&options.policy)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| std::format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run(options, shared))
}

async fn run(options: Options, shared: Arc<Shared>) -> Result<(), String> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| std::format!("cannot listen on {addr}: {e}"))
    };
    let checks = bind(options.listen).await?;
    let admin = match options.admin {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let signal_stream = |kind| signal(kind).map_err(|e| std::format!("cannot watch signals: {e}"));
    let mut term = signal_stream(SignalKind::terminate())?;
    let mut int = signal_stream(SignalKind::interrupt())?;
    let mut hup = signal_stream(SignalKind::hangup())?;
    let watch = !options.watch.is_zero();
    let mut tick = tokio::time::interval(if watch {
        options.watch
    } else {
        Duration::from_secs(3600)
    });
    let mut stamp = shared.file_stamp();
    let graceful = GracefulShutdown::new();
    info!(
        "jwtgate: serving checks on {} (mode {}, non-canonical targets: {}, {} threads){}",
        checks.local_addr().map_or(options.listen, |a| a),
        options.mode.name(),
        match options.canonical {
            Canonical::Refuse => "refused",
            Canonical::Forward => "answered with x-jwtgate-target",
        },
        options.threads,
        admin
            .as_ref()
            .and_then(|a| a.local_addr().ok())
            .map(|a| std::format!(", admin on {a}"))
            .unwrap_or_default()
    );
    let (mode, canonical) = (options.mode, options.canonical);
    // The process's one key fetcher (idle while the policy has no remote keys).
    tokio::spawn(super::keys::run(Arc::clone(&shared)));
    loop {
        tokio::select! {
            accepted = checks.accept() => {
                let Ok((stream, _)) = accepted.inspect_err(|e| warn!("jwtgate: accept failed: {e}")) else { continue };
                let shared = Arc::clone(&shared);
                let service = service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    async move { Ok::<_, Infallible>(check_request(&shared, mode, canonical, req).await) }
                });
                spawn_connection(&graceful, stream, service);
            }
            accepted = async { admin.as_ref().expect("guarded").accept().await }, if admin.is_some() => {
                let Ok((stream, _)) = accepted.inspect_err(|e| warn!("jwtgate: accept failed: {e}")) else { continue };
                let shared = Arc::clone(&shared);
                let service = service_fn(move |req| {
                    let answer = admin_request(&shared, &req);
                    async move { Ok::<_, Infallible>(answer) }
                });
                spawn_connection(&graceful, stream, service);
            }
            _ = hup.recv() => { shared.reload("SIGHUP"); stamp = shared.file_stamp(); }
            _ = tick.tick(), if watch => {
                let now = shared.file_stamp();
                if now.is_some() && now != stamp {
                    stamp = now;
                    shared.reload("file changed");
                }
            }
            _ = term.recv() => { info!("jwtgate: SIGTERM: finishing in-flight requests"); break; }
            _ = int.recv() => { info!("jwtgate: SIGINT: finishing in-flight requests"); break; }
        }
    }
    drop(checks);
    drop(admin);
    tokio::select! {
        () = graceful.shutdown() => info!("jwtgate: every connection closed; bye"),
        () = tokio::time::sleep(options.grace) => error!("jwtgate: connections still open after {:?}; exiting", options.grace),
    }
    Ok(())
}

fn spawn_connection<S>(graceful: &GracefulShutdown, stream: tokio::net::TcpStream, service: S)
where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            log::debug!("jwtgate: connection ended: {e}");
        }
    });
}

/// Headers as (name, value) pairs; non-UTF-8 bytes become U+FFFD (a token
/// is ASCII, so one containing them still fails as `malformed`).
fn header_pairs(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .map(|(k, v)| {
            (
                String::from(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn check_request(
    shared: &Shared,
    mode: Mode,
    canonical: Canonical,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let headers = header_pairs(&req);
    // The target as it arrived: origin-form, or absolute-form as sent.
    let target = req.uri().to_string();
    let answer = check::answer(
        shared,
        mode,
        canonical,
        req.method().as_str(),
        &target,
        &headers,
    )
    .await;
    response(answer)
}

fn admin_request(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let text = |status: u16, content_type: &str, body: String| Answer {
        status,
        headers: Vec::from([(String::from("content-type"), String::from(content_type))]),
        body,
    };
    let answer = match req.uri().path() {
        "/healthz" => text(200, "text/plain", String::from("ok\n")),
        // Ready once every provider with remote keys has keys within
        // max_stale_seconds (at once when there are none).
        "/readyz" => {
            let (ready, providers) = shared.readiness();
            let providers: serde_json::Map<String, serde_json::Value> = providers
                .into_iter()
                .map(|(p, s)| (p, serde_json::Value::from(s)))
                .collect();
            text(
                if ready { 200 } else { 503 },
                "application/json",
                serde_json::json!({"ready": ready, "generation": shared.generation(), "providers": providers})
                    .to_string(),
            )
        }
        "/metrics" => text(200, "text/plain; version=0.0.4", shared.render_metrics()),
        _ => text(404, "text/plain", String::from("not found\n")),
    };
    response(answer)
}

fn response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => warn!("jwtgate: header {name:?} not sent: not a valid HTTP header"),
        }
    }
    response
}
