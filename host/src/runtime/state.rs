//! Per-call store state: a locked-down WASI context, the memory limiter and
//! the guest's captured output. A fresh one is built for every (event, plugin).
//!
//! What the guest can observe besides its input is fixed by the input, so that running a
//! stored event and context again gives the same actions: the WASI wall clock reads the
//! context's `now`, the monotonic clock stands still, and both random sources are a byte
//! cycle derived from the event id.
//!
//! The WASI context is built on the guest's first WASI call, not with the state: most
//! deciders make none, and building it (two hashes for the seed, a dozen allocations) was a
//! sizeable part of a fresh instance's cost. It is built from the same inputs either way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Bytes of stdout, stderr and `log` text kept per call; the rest is dropped.
pub const OUTPUT_CAP: usize = 64 << 10;

/// The store data of one plugin call.
pub struct PluginState {
    /// Built on the first WASI call (see the module's doc).
    sandbox: Option<Sandbox>,
    now: Duration,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    plugin: Arc<str>,
    event_id: String,
    log_budget: usize,
}

/// The WASI context and the pipes its stdout and stderr write to.
struct Sandbox {
    wasi: WasiCtx,
    stdout: CappedPipe,
    stderr: CappedPipe,
}

impl Sandbox {
    /// No preopened directories, no environment, no arguments, no network and stdin closed;
    /// stdout and stderr captured in memory. The clock reads `now` (time since the Unix
    /// epoch) and the randomness comes from `event_id`.
    fn new(event_id: &str, now: Duration) -> Self {
        // stdout keeps its head (what the plugin said first), stderr its tail (a panic
        // message comes last).
        let stdout = CappedPipe::new(OUTPUT_CAP, Keep::Head);
        let stderr = CappedPipe::new(OUTPUT_CAP, Keep::Tail);
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
        Sandbox { wasi, stdout, stderr }
    }
}

impl PluginState {
    /// The state of one call: the guest's clock will read `now` (time since the Unix epoch)
    /// and its randomness will come from `event_id`; its memories together may not exceed
    /// `memory_cap` bytes.
    pub fn new(plugin: Arc<str>, event_id: &str, now: Duration, memory_cap: usize) -> Self {
        PluginState {
            sandbox: None,
            now,
            table: ResourceTable::new(),
            limiter: MemoryLimiter { cap: memory_cap, total: 0, peak: 0, breached: false },
            plugin,
            event_id: event_id.to_string(),
            log_budget: OUTPUT_CAP,
        }
    }

    /// Whether the guest made a WASI call (and so got a WASI context).
    pub fn used_wasi(&self) -> bool {
        self.sandbox.is_some()
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

    /// The tail of what the guest wrote to stderr (at most [`OUTPUT_CAP`] bytes), lossy UTF-8.
    pub fn stderr(&self) -> String {
        match &self.sandbox {
            Some(sandbox) => String::from_utf8_lossy(&sandbox.stderr.contents()).into_owned(),
            None => String::new(),
        }
    }

    /// Forwards captured stdout and stderr to the host log, one line per line, and says how
    /// much was dropped beyond the cap.
    pub(crate) fn flush_output(&self) {
        let Some(sandbox) = &self.sandbox else { return };
        for (stream, pipe) in [("stdout", &sandbox.stdout), ("stderr", &sandbox.stderr)] {
            let (bytes, dropped) = (pipe.contents(), pipe.dropped());
            if dropped > 0 {
                tracing::warn!(plugin = &*self.plugin, event_id = %self.event_id, stream, dropped, "Plugin output over {OUTPUT_CAP} bytes; the rest was dropped.");
            }
            for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()) {
                tracing::info!(plugin = &*self.plugin, event_id = %self.event_id, stream, "{line}");
            }
        }
    }
}

/// Which part of the output a [`CappedPipe`] keeps once more than its cap was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The first bytes.
    Head,
    /// The last bytes.
    Tail,
}

/// A captured stdout or stderr that keeps at most `cap` bytes (the head or the tail) and
/// accepts and counts everything beyond without storing it: a chatty guest is never stopped
/// by a closed stream (which panics a Rust guest) and the host's memory stays bounded.
#[derive(Debug, Clone)]
pub struct CappedPipe {
    capture: Arc<Mutex<Capture>>,
}

#[derive(Debug)]
struct Capture {
    cap: usize,
    keep: Keep,
    bytes: VecDeque<u8>,
    dropped: u64,
}

impl CappedPipe {
    /// An empty pipe keeping `keep` of at most `cap` bytes.
    pub fn new(cap: usize, keep: Keep) -> Self {
        CappedPipe { capture: Arc::new(Mutex::new(Capture { cap, keep, bytes: VecDeque::new(), dropped: 0 })) }
    }

    /// The bytes kept.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().bytes.iter().copied().collect()
    }

    /// How many bytes were written but not kept.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Appends `data`, dropping what exceeds the cap.
    pub fn push(&self, data: &[u8]) {
        let mut capture = self.lock();
        let cap = capture.cap;
        match capture.keep {
            Keep::Head => {
                let room = cap.saturating_sub(capture.bytes.len());
                let kept = data.len().min(room);
                capture.bytes.extend(&data[..kept]);
                capture.dropped += (data.len() - kept) as u64;
            }
            Keep::Tail => {
                let skipped = data.len().saturating_sub(cap);
                let data = &data[skipped..];
                let excess = (capture.bytes.len() + data.len()).saturating_sub(cap);
                capture.bytes.drain(..excess);
                capture.bytes.extend(data);
                capture.dropped += (skipped + excess) as u64;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Capture> {
        // A panic while holding the lock cannot leave the buffer inconsistent.
        self.capture.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: what exceeds the cap is accepted and dropped.
        Ok(OUTPUT_CAP)
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The bytes the guest's random sources cycle through: 64 bytes derived from the event id,
/// its SHA-256 and the SHA-256 of that.
pub fn seed_bytes(event_id: &str) -> Vec<u8> {
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
        let (event_id, now) = (&self.event_id, self.now);
        let sandbox = self.sandbox.get_or_insert_with(|| Sandbox::new(event_id, now));
        WasiCtxView { ctx: &mut sandbox.wasi, table: &mut self.table }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_keeps_its_head_or_tail_and_counts_the_rest() {
        let (head, tail) = (CappedPipe::new(10, Keep::Head), CappedPipe::new(10, Keep::Tail));
        for pipe in [&head, &tail] {
            pipe.push(b"0123456");
            pipe.push(b"789abcdef");
            pipe.push(&[b'x'; 25]);
            pipe.push(b"end");
        }
        assert_eq!(head.contents(), b"0123456789");
        assert_eq!(tail.contents(), b"xxxxxxxend");
        assert_eq!((head.dropped(), tail.dropped()), (34, 34));
    }

    #[test]
    fn a_pipe_accepts_far_more_than_its_cap_in_bounded_memory() {
        let mut pipe = CappedPipe::new(OUTPUT_CAP, Keep::Tail);
        for _ in 0..256 {
            assert_eq!(pipe.check_write().unwrap(), OUTPUT_CAP);
            pipe.write(bytes::Bytes::from_static(&[b'.'; 4096])).unwrap();
        }
        pipe.write(bytes::Bytes::from_static(b"last words")).unwrap();
        let kept = pipe.contents();
        assert_eq!(kept.len(), OUTPUT_CAP);
        assert!(kept.ends_with(b"last words"));
        assert!(pipe.capture.lock().unwrap().bytes.capacity() <= 2 * OUTPUT_CAP);
        assert_eq!(pipe.dropped(), (256 * 4096 + 10 - OUTPUT_CAP) as u64);
    }

    #[test]
    fn the_wasi_context_is_built_only_when_the_guest_asks() {
        let mut state = PluginState::new(Arc::from("p"), "evt-1", Duration::from_secs(5), 1 << 20);
        assert!(!state.used_wasi());
        assert_eq!(state.stderr(), "");
        let _ = state.ctx();
        assert!(state.used_wasi());
    }
}
