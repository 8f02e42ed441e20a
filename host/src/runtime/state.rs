//! Per-call store state: a locked-down WASI context, the memory limiter and
//! the guest's captured output. A fresh one is built for every (event, plugin).
//!
//! What the guest can observe besides its input is fixed by the input, so that running a
//! stored event and context again gives the same actions: the WASI wall clock reads the
//! context's `now`, the monotonic clock stands still, and both random sources are a byte
//! cycle derived from the event id.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Bytes of stdout, stderr and `log` text kept per call; the rest is dropped.
pub const OUTPUT_CAP: usize = 64 << 10;

/// The store data of one plugin call.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    plugin: Arc<str>,
    event_id: String,
    log_budget: usize,
}

impl PluginState {
    /// A state with no preopened directories, no environment, no arguments,
    /// no network and stdin closed; stdout and stderr are captured in memory. The guest's
    /// clock reads `now` (time since the Unix epoch) and its randomness comes from `event_id`.
    pub fn new(plugin: Arc<str>, event_id: &str, now: Duration, memory_cap: usize) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAP);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
        let seed = seed_bytes(event_id);
        let insecure_seed = u128::from_le_bytes(seed[..16].try_into().expect("16 bytes"));
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FixedWallClock(now))
            .monotonic_clock(StillMonotonicClock)
            .secure_random(Deterministic::new(seed.clone()))
            .insecure_random(Deterministic::new(seed))
            .insecure_random_seed(insecure_seed)
            .build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { cap: memory_cap, total: 0, peak: 0, breached: false },
            stdout,
            stderr,
            plugin,
            event_id: event_id.to_string(),
            log_budget: OUTPUT_CAP,
        }
    }

    /// Sends a guest `log` line to the host log, tagged with plugin and event.
    pub(crate) fn guest_log(&mut self, level: tracing::Level, message: &str) {
        if self.log_budget == 0 {
            return;
        }
        let mut end = message.len().min(self.log_budget);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.log_budget -= end;
        let (plugin, event_id, message) = (&*self.plugin, &self.event_id, &message[..end]);
        match level {
            tracing::Level::ERROR => tracing::error!(plugin, event_id, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, event_id, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, event_id, "{message}"),
            _ => tracing::debug!(plugin, event_id, "{message}"),
        }
    }

    /// What the guest wrote to stderr (size-capped), lossy UTF-8.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Forwards captured stdout and stderr to the host log, one line per line.
    pub(crate) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()) {
                tracing::info!(plugin = &*self.plugin, event_id = %self.event_id, stream, "{line}");
            }
        }
    }
}

/// 64 bytes derived from the event id: SHA-256 of it, then SHA-256 of that.
fn seed_bytes(event_id: &str) -> Vec<u8> {
    let first = Sha256::digest(event_id.as_bytes());
    let second = Sha256::digest(first);
    [first.as_slice(), second.as_slice()].concat()
}

/// `wasi:clocks/wall-clock` reading one instant: the context's `now`.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// `wasi:clocks/monotonic-clock` that does not move within a call.
struct StillMonotonicClock;

impl HostMonotonicClock for StillMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps linear memory and remembers the peak, so a breach can be named as
/// such (rather than as the abort it causes inside the guest). The cap is on
/// all of an instance's memories together: a JavaScript plugin has two.
pub struct MemoryLimiter {
    cap: usize,
    /// Bytes of all the instance's memories now.
    total: usize,
    /// Largest total granted, in bytes.
    pub peak: usize,
    /// Whether the guest asked for more than the cap.
    pub breached: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Every memory is counted from its creation (current = 0) on.
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.cap {
            self.breached = true;
            return Ok(false);
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a decider never needs many.
        Ok(desired <= 100_000)
    }
}
