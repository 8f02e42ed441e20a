//! The epoch ticker: CPU deadlines only fire while the engine's epoch advances. It advances only
//! while a plugin call runs: an idle host does not wake a thousand times a second for nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread while at least one
/// [`Ticking`] guard is alive, and parks the thread otherwise; stops when dropped.
pub(super) struct EpochTicker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// Plugin calls running now.
    calls: AtomicUsize,
}

/// Keeps the epoch advancing while it lives: hold one for the whole of a plugin call.
pub(super) struct Ticking<'a> {
    shared: &'a Shared,
}

impl EpochTicker {
    pub(super) fn start(engine: Engine) -> Self {
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), calls: AtomicUsize::new(0) });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !state.stop.load(Ordering::Acquire) {
                    if state.calls.load(Ordering::Acquire) == 0 {
                        // A call starting after the check unparks us: `park` then returns at once.
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch ticker thread");
        EpochTicker { shared, thread: Some(thread) }
    }

    /// Counts a call as running until the guard drops, waking the ticker if it was idle. A
    /// deadline set from the current epoch then fires on time.
    pub(super) fn ticking(&self) -> Ticking<'_> {
        if self.shared.calls.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        Ticking { shared: &self.shared }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.shared.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread::sleep;
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_epoch_advances_only_while_a_call_runs() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        // `(module (func (export "spin") (loop br 0)))`, assembled by hand.
        let spin_wasm = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // one type: [] -> []
            0x03, 0x02, 0x01, 0x00, // one function of that type
            0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // exported as "spin"
            0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0 end end
        ];
        let module = wasmtime::Module::new(&engine, spin_wasm).unwrap();
        // A guest spinning under a one-tick deadline: it stops only once the epoch advances.
        let spin = || {
            let (engine, module) = (engine.clone(), module.clone());
            std::thread::spawn(move || {
                let mut store = wasmtime::Store::new(&engine, ());
                store.set_epoch_deadline(1);
                let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
                let spin = instance.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
                assert!(spin.call(&mut store, ()).is_err(), "an endless loop ends only by its deadline");
            })
        };
        let finishes = |spinner: &JoinHandle<()>, within: Duration| {
            let started = Instant::now();
            while !spinner.is_finished() && started.elapsed() < within {
                sleep(Duration::from_millis(1));
            }
            spinner.is_finished()
        };
        let ticker = EpochTicker::start(engine.clone());

        let call = ticker.ticking();
        let spinner = spin();
        assert!(finishes(&spinner, Duration::from_secs(10)), "a deadline fires while a call runs");
        spinner.join().unwrap();
        drop(call);

        // Idle: once the ticker has parked (its last tick may still land just after the call
        // ends, so a spinner may see one), nothing advances the epoch.
        let idle = (0..5).find_map(|_| {
            sleep(Duration::from_millis(50));
            let spinner = spin();
            (!finishes(&spinner, Duration::from_millis(200))).then_some(spinner)
        });
        let spinner = idle.expect("the epoch kept advancing with no call running");
        let call = ticker.ticking();
        assert!(finishes(&spinner, Duration::from_secs(10)), "a call starting wakes the ticker");
        spinner.join().unwrap();
        drop(call);
    }
}
