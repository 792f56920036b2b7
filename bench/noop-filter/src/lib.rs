//! The floor for a proxy-wasm HTTP filter in the jwtgate benchmarks.
//!
//! The plugin configuration picks the HTTP context once, in `on_configure`,
//! so the per-request path has no branch of its own:
//! - `noop`: `on_http_request_headers` returns `Continue` and does nothing else
//!   (what a request costs just for crossing the proxy-wasm ABI);
//! - `header`: reads the `authorization` header and adds `x-bench` (the least a
//!   real authentication filter does);
//! - `glue`: the host calls jwtgate's filter makes around the core on an
//!   allowed request, without the core: read every request header, read the
//!   clock, remove `authorization`, increment two counters (allowed, cache hit).
//!   jwtgate minus this cell is the core's own work in the VM.

use proxy_wasm::hostcalls::{define_metric, increment_metric};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { mode: Mode::Noop, metrics: (0, 0) }) });
}}

#[derive(Clone, Copy)]
enum Mode {
    Noop,
    Header,
    Glue,
}

struct Root {
    mode: Mode,
    metrics: (u32, u32),
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.mode = match self.get_plugin_configuration().as_deref() {
            Some(b"header") => Mode::Header,
            Some(b"glue") => Mode::Glue,
            Some(b"noop") | None => Mode::Noop,
            Some(_) => return false,
        };
        if let Mode::Glue = self.mode {
            match (
                define_metric(MetricType::Counter, "bench.allowed"),
                define_metric(MetricType::Counter, "bench.cache.hits"),
            ) {
                (Ok(a), Ok(b)) => self.metrics = (a, b),
                _ => return false,
            }
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        match self.mode {
            Mode::Noop => Some(Box::new(Noop)),
            Mode::Header => Some(Box::new(Header)),
            Mode::Glue => Some(Box::new(Glue { metrics: self.metrics })),
        }
    }
}

struct Noop;
impl Context for Noop {}
impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        Action::Continue
    }
}

struct Header;
impl Context for Header {}
impl HttpContext for Header {
    fn on_http_request_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        let present = self.get_http_request_header_bytes("authorization").is_some();
        self.add_http_request_header("x-bench", if present { "1" } else { "0" });
        Action::Continue
    }
}

struct Glue {
    metrics: (u32, u32),
}
impl Context for Glue {}
impl HttpContext for Glue {
    fn on_http_request_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        let headers = self.get_http_request_headers_bytes();
        let now = self.get_current_time();
        core::hint::black_box((&headers, now));
        self.set_http_request_header("authorization", None);
        let _ = increment_metric(self.metrics.0, 1);
        let _ = increment_metric(self.metrics.1, 1);
        Action::Continue
    }
}
