//! The plugin runtime: one Wasmtime engine with the pooling allocator and an
//! epoch ticker, one pre-instantiated component per plugin, and a fresh,
//! sandboxed instance for every (event, plugin) call.

pub mod cache;
mod epoch;
pub mod limits;
pub mod state;
pub mod wit;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest as _;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use self::cache::{CacheOutcome, ComponentCache};
use self::epoch::EpochTicker;
pub use self::limits::Limits;
use self::state::PluginState;
use crate::model::grants::Grants;
use crate::model::{Action, Context, Event, Manifest};
use self::wit::{Bindings, PluginPre, Version};

use self::epoch::EPOCH_TICK;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Plugin instances that may be alive at once (the pool's size).
    pub max_instances: u32,
    /// The largest memory cap any plugin may be given.
    pub max_memory_bytes: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { cache_dir: None, max_instances: 64, max_memory_bytes: 256 << 20 }
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine could not be configured.
    #[error("could not start the wasm engine: {0}")]
    Engine(String),
    /// The bytes are not a valid component for this engine.
    #[error("plugin {plugin}: not a valid wasm component: {reason}")]
    Compile {
        /// The plugin's name or path.
        plugin: String,
        /// The compiler's message.
        reason: String,
    },
    /// The component does not implement a contract version this host knows,
    /// or needs imports the sandbox does not provide.
    #[error("plugin {plugin}: {reason}")]
    Contract {
        /// The plugin's name or path.
        plugin: String,
        /// What is missing.
        reason: String,
    },
    /// `describe` failed or returned an unusable manifest.
    #[error("plugin {plugin}: describe failed: {reason}")]
    Describe {
        /// The plugin's name or path.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The configured limits exceed what the engine allows.
    #[error("plugin {plugin}: memory cap {requested} bytes exceeds the engine maximum {max} bytes")]
    MemoryCap {
        /// The plugin's name or path.
        plugin: String,
        /// Requested cap.
        requested: usize,
        /// Engine maximum.
        max: usize,
    },
}

/// Why one plugin call failed. Only this plugin, for this event, is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin} failed on event {event_id}: {cause}")]
pub struct PluginError {
    /// The plugin's manifest name.
    pub plugin: String,
    /// The event being handled.
    pub event_id: String,
    /// What went wrong.
    pub cause: Failure,
}

/// The cause of a failed plugin call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The CPU deadline passed.
    #[error("deadline exceeded after {} ms", .0.as_millis())]
    Deadline(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("memory limit {} MiB exceeded", .0 >> 20)]
    Memory(usize),
    /// The guest trapped (a panic, `unreachable`, …); `stderr` holds its last words.
    #[error("trapped: {trap}{}", stderr_suffix(.stderr))]
    Trap {
        /// The trap and wasm backtrace.
        trap: String,
        /// The tail of what the guest wrote to stderr (a panic message, usually).
        stderr: String,
    },
    /// The plugin returned `err(…)`.
    #[error("returned an error: {0}")]
    Guest(String),
    /// The plugin's output broke a bound (too many actions, body too long, …).
    #[error("output rejected: {0}")]
    Output(String),
    /// No instance could be created (e.g. the pool is exhausted).
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
}

fn stderr_suffix(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        text => format!(" (stderr: {text})"),
    }
}

/// A successful call: the actions and what it cost.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The plugin's decisions, already checked against [`limits`].
    pub actions: Vec<Action>,
    /// Wall time of instantiation plus the call.
    pub elapsed: Duration,
    /// Peak linear memory, bytes.
    pub memory_peak: usize,
}

/// The engine, its linker and the epoch ticker. Create one per process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: Option<ComponentCache>,
    max_memory_bytes: usize,
    ticker: Arc<EpochTicker>,
}

impl Runtime {
    /// Builds the engine: component model, pooling allocator, epoch interruption.
    pub fn new(options: &RuntimeOptions) -> Result<Self, LoadError> {
        // Components with several core modules and memories: every plugin
        // instance gets this share of the pool, so `max_instances` instances
        // of any kind fit at once, and a component needing more is refused
        // when it is compiled, never halfway through an event. Measured with
        // Wasmtime 48: a Rust plugin (wit-bindgen + the WASI adapter) has
        // 3 core instances, 1 memory and 2 tables; a JavaScript plugin
        // (QuickJS from componentize-qjs 0.4.5) 9, 2 and 2. The margin leaves
        // room for other toolchains' layouts.
        const CORE_INSTANCES_PER_PLUGIN: u32 = 16;
        const MEMORIES_PER_PLUGIN: u32 = 4;
        const TABLES_PER_PLUGIN: u32 = 4;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances * CORE_INSTANCES_PER_PLUGIN)
            .total_memories(options.max_instances * MEMORIES_PER_PLUGIN)
            .total_tables(options.max_instances * TABLES_PER_PLUGIN)
            .max_core_instances_per_component(CORE_INSTANCES_PER_PLUGIN)
            .max_memories_per_component(MEMORIES_PER_PLUGIN)
            .max_tables_per_component(TABLES_PER_PLUGIN)
            .max_memory_size(options.max_memory_bytes)
            // Keep the first pages of a recycled slot resident: a fresh
            // instance then costs ~11 µs instead of ~35 µs. Measured again with
            // Wasmtime 48 (benches/plugins.rs, release): 128 KiB or 2 MiB kept, a
            // table kept at 0, batched decommits or no copy-on-write images were
            // each no better, or worse.
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10)
            // Where the kernel has it (Linux 6.7+), reset only the pages the last instance
            // wrote instead of all the resident ones: the store's drop then costs ~1.8 µs
            // instead of ~3 µs (release, plugins bench). Elsewhere the setting does nothing.
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .parallel_compilation(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let linker = wit::linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = Arc::new(EpochTicker::start(engine.clone()));
        Ok(Runtime {
            engine,
            linker,
            cache: options.cache_dir.clone().map(ComponentCache::new),
            max_memory_bytes: options.max_memory_bytes,
            ticker,
        })
    }

    /// Compiles (or loads from cache) a component, links it, and asks it to
    /// describe itself. `label` names it in errors (its configured name or path).
    pub fn load(
        &self,
        label: &str,
        wasm: &[u8],
        limits: Limits,
        settings: BTreeMap<String, String>,
    ) -> Result<Plugin, LoadError> {
        if limits.memory_bytes > self.max_memory_bytes {
            return Err(LoadError::MemoryCap {
                plugin: label.into(),
                requested: limits.memory_bytes,
                max: self.max_memory_bytes,
            });
        }
        let compiled = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm),
            None => Component::new(&self.engine, wasm).map(|c| (c, CacheOutcome::Compiled)),
        };
        let (component, outcome) = compiled.map_err(|e| LoadError::Compile { plugin: label.into(), reason: compile_reason(wasm, &e) })?;
        tracing::debug!(plugin = label, ?outcome, "Plugin component ready.");
        let Some(version) = Version::of(&component) else {
            let known: Vec<&str> = Version::ALL.iter().map(|v| v.handler_export()).collect();
            return Err(LoadError::Contract {
                plugin: label.into(),
                reason: format!(
                    "exports none of {}; build it with ml-connector-sdk (WIT {})",
                    known.join(", "),
                    Version::LATEST.as_str()
                ),
            });
        };
        let pre = PluginPre::new(&self.linker, &component, version).map_err(|e| LoadError::Contract {
            plugin: label.into(),
            reason: format!("cannot be linked in the sandbox: {e:#}"),
        })?;
        let mut plugin = Plugin {
            cache_outcome: outcome,
            digest: hex::encode(sha2::Sha256::digest(wasm)),
            name: Arc::from(label),
            manifest: Manifest { name: label.into(), version: String::new(), description: String::new(), subscribes: vec![] },
            pre,
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
            limits,
            settings,
            grants: Grants::default(),
        };
        let manifest = plugin
            .describe()
            .map_err(|e| LoadError::Describe { plugin: label.into(), reason: e.cause.to_string() })?;
        if manifest.name.trim().is_empty() || manifest.subscribes.is_empty() {
            return Err(LoadError::Describe {
                plugin: label.into(),
                reason: "the manifest needs a name and at least one subscription".into(),
            });
        }
        plugin.name = Arc::from(manifest.name.as_str());
        plugin.manifest = manifest;
        Ok(plugin)
    }
}

/// A loaded plugin: its manifest, settings, limits and pre-instantiated component.
pub struct Plugin {
    cache_outcome: CacheOutcome,
    digest: String,
    name: Arc<str>,
    manifest: Manifest,
    pre: PluginPre,
    engine: Engine,
    /// Deadlines only fire while the ticker runs: every plugin keeps it alive, and each call
    /// keeps it ticking.
    ticker: Arc<EpochTicker>,
    limits: Limits,
    settings: BTreeMap<String, String>,
    grants: Grants,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("manifest", &self.manifest).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Plugin {
    /// The plugin's name: its manifest's, unless it was [renamed](Self::renamed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same plugin under another name (`plugin install --name`): it runs, is recorded and is
    /// configured as `name`; its manifest keeps the name its author gave it.
    pub fn renamed(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// The recipients its messages may go to (the customer only unless
    /// [`Plugin::with_grants`] says more); the dispatcher refuses the others.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// The plugin with `grants` instead of its current ones.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// The SHA-256 of its wasm, hex: the version that decided, recorded with each run.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// What the plugin said about itself at load.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The contract version the component was built for.
    pub fn contract_version(&self) -> &'static str {
        self.pre.version().as_str()
    }

    /// Whether loading compiled the component or found it in the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// Runs `handle` on a fresh instance. The plugin's configured settings
    /// are the base; entries already in `context.settings` override them.
    pub fn handle(&self, event: &Event, context: &Context) -> Result<Invocation, PluginError> {
        let fail = |cause| PluginError { plugin: self.name.to_string(), event_id: event.id.clone(), cause };
        let (result, elapsed, memory_peak) = self
            .call(&event.id, unix_time(&context.now), |store, bindings| {
                let result = bindings.handle(store, event, context, &self.settings)?;
                // A guest that turns a refused memory growth into its own
                // error (QuickJS throws "out of memory") failed on the cap.
                match result {
                    Err(e) if store.data().limiter.breached => Err(wasmtime::Error::msg(e)),
                    result => Ok(result),
                }
            })
            .map_err(fail)?;
        let actions = result.map_err(|e| fail(Failure::Guest(e)))?;
        limits::check_actions(&actions).map_err(|e| fail(Failure::Output(e)))?;
        Ok(Invocation { actions, elapsed, memory_peak })
    }

    /// One instance kept alive across calls, with no deadline or isolation
    /// between them. Production never uses this (every event gets a fresh
    /// instance); it exists so benchmarks can show what isolation costs.
    pub fn reusable_instance(&self) -> Result<ReusableInstance, PluginError> {
        let mut store = Store::new(&self.engine, PluginState::new(self.name.clone(), "reused", Duration::ZERO, self.limits.memory_bytes));
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Continue(u64::MAX / 2)));
        let bindings = self.pre.instantiate(&mut store).map_err(|e| PluginError {
            plugin: self.name.to_string(),
            event_id: "reused".into(),
            cause: Failure::Instantiate(format!("{e:#}")),
        })?;
        Ok(ReusableInstance { store, bindings, settings: self.settings.clone() })
    }

    fn describe(&self) -> Result<Manifest, PluginError> {
        self.call("describe", Duration::ZERO, |store, bindings| bindings.describe(store))
            .map(|(m, _, _)| m)
            .map_err(|cause| PluginError { plugin: self.name.to_string(), event_id: "describe".into(), cause })
    }

    /// Instantiates in a fresh store under the deadline and memory cap, runs
    /// `f`, forwards the guest's output to the log and classifies any failure.
    fn call<R>(
        &self,
        event_id: &str,
        now: Duration,
        f: impl FnOnce(&mut Store<PluginState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<(R, Duration, usize), Failure> {
        let mut store = self.store(PluginState::new(self.name.clone(), event_id, now, self.limits.memory_bytes));
        let _ticking = self.ticker.ticking();
        let started = Instant::now();
        let outcome = match self.pre.instantiate(&mut store) {
            Ok(bindings) => f(&mut store, &bindings).map_err(|e| self.classify(&store, e)),
            Err(e) => Err(match e.downcast_ref::<Trap>() {
                Some(_) => self.classify(&store, e),
                None => Failure::Instantiate(format!("{e:#}")),
            }),
        };
        let elapsed = started.elapsed();
        store.data().flush_output();
        outcome.map(|r| (r, elapsed, store.data().limiter.peak))
    }

    /// A store for one call: `state`, the memory cap and the CPU deadline.
    fn store(&self, state: PluginState) -> Store<PluginState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let ticks = self.limits.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64;
        // +1: the tick in progress when we start may end at any moment.
        store.set_epoch_deadline(ticks + 1);
        store
    }

    /// Runs `handle` on a fresh instance exactly as [`Plugin::handle`] does, and says where
    /// the time went, phase by phase. For benchmarks: the timestamps cost a little.
    pub fn profile(&self, event: &Event, context: &Context) -> Result<Phases, PluginError> {
        let fail = |cause| PluginError { plugin: self.name.to_string(), event_id: event.id.clone(), cause };
        let _ticking = self.ticker.ticking();
        let started = Instant::now();
        let state = PluginState::new(self.name.clone(), &event.id, unix_time(&context.now), self.limits.memory_bytes);
        let state_built = Instant::now();
        let mut store = self.store(state);
        let transitions = Arc::new(std::sync::Mutex::new(Vec::with_capacity(16)));
        let record = transitions.clone();
        store.call_hook(move |_, hook| {
            record.lock().expect("transitions").push((Instant::now(), hook));
            Ok(())
        });
        let store_built = Instant::now();
        let bindings = self.pre.instantiate(&mut store).map_err(|e| fail(Failure::Instantiate(format!("{e:#}"))))?;
        transitions.lock().expect("transitions").clear();
        let instantiated = Instant::now();
        let result = bindings.handle(&mut store, event, context, &self.settings).map_err(|e| fail(self.classify(&store, e)))?;
        let actions = result.map_err(|e| fail(Failure::Guest(e)))?;
        limits::check_actions(&actions).map_err(|e| fail(Failure::Output(e)))?;
        let lifted = Instant::now();
        let used_wasi = store.data().used_wasi();
        store.data().flush_output();
        drop(store);
        let dropped = Instant::now();
        let transitions = transitions.lock().expect("transitions");
        let (entered, returned) = main_call(&transitions).unwrap_or((instantiated, instantiated));
        Ok(Phases {
            state: state_built - started,
            store: store_built - state_built,
            instantiate: instantiated - store_built,
            lower: entered - instantiated,
            guest: returned - entered,
            lift: lifted - returned,
            drop: dropped - lifted,
            used_wasi,
        })
    }

    fn classify(&self, store: &Store<PluginState>, error: wasmtime::Error) -> Failure {
        if store.data().limiter.breached {
            return Failure::Memory(self.limits.memory_bytes);
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return Failure::Deadline(self.limits.deadline);
        }
        let stderr = store.data().stderr();
        let tail_start = stderr.len().saturating_sub(2048);
        let tail_start = (tail_start..stderr.len()).find(|&i| stderr.is_char_boundary(i)).unwrap_or(stderr.len());
        Failure::Trap { trap: format!("{error:?}"), stderr: stderr[tail_start..].trim().to_string() }
    }
}

/// Where the time of one call on a fresh instance went: see [`Plugin::profile`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Building the store's state (names, limiter; the WASI context is built lazily, on the
    /// guest's first WASI call, so its cost lands in `guest` when there is one).
    pub state: Duration,
    /// Creating the store with its memory cap and deadline.
    pub store: Duration,
    /// Instantiating the pre-linked component: pool slots for memories and tables, the core
    /// instances, the component's start-up.
    pub instantiate: Duration,
    /// Converting the event and context to the contract's types and lowering them into guest
    /// memory (which calls the guest's allocator).
    pub lower: Duration,
    /// The guest's `handle`, with any host calls it makes (WASI, `log`).
    pub guest: Duration,
    /// Lifting the result out of guest memory, the guest's post-return clean-up, converting to
    /// the host's actions and checking their bounds.
    pub lift: Duration,
    /// Forwarding captured output and dropping the store: the pool resets the instance's
    /// memories and tables for the next one.
    pub drop: Duration,
    /// Whether the guest made a WASI call (so a WASI context was built).
    pub used_wasi: bool,
}

/// The host's outermost call into wasm that took longest (the export itself, rather than the
/// allocator calls before it or the post-return after it), as (entered, returned).
fn main_call(transitions: &[(Instant, wasmtime::CallHook)]) -> Option<(Instant, Instant)> {
    let (mut depth, mut entered, mut longest) = (0usize, None, None::<(Instant, Instant)>);
    for &(at, hook) in transitions {
        match hook {
            wasmtime::CallHook::CallingWasm => {
                if depth == 0 {
                    entered = Some(at);
                }
                depth += 1;
            }
            wasmtime::CallHook::ReturningFromWasm => {
                depth = depth.saturating_sub(1);
                if let (0, Some(start)) = (depth, entered)
                    && longest.is_none_or(|(a, b)| at - start > b - a)
                {
                    longest = Some((start, at));
                }
            }
            wasmtime::CallHook::CallingHost | wasmtime::CallHook::ReturningFromHost => {}
        }
    }
    longest
}

/// A long-lived instance: see [`Plugin::reusable_instance`].
pub struct ReusableInstance {
    store: Store<PluginState>,
    bindings: Bindings,
    settings: BTreeMap<String, String>,
}

impl ReusableInstance {
    /// Calls `handle` on the same instance as every earlier call.
    pub fn handle(&mut self, event: &Event, context: &Context) -> wasmtime::Result<Result<usize, String>> {
        let result = self.bindings.handle(&mut self.store, event, context, &self.settings)?;
        Ok(result.map(|actions| actions.len()))
    }
}

/// Why bytes did not compile, on one line: a file that is not WebAssembly at all says so
/// instead of the parser's byte dump.
fn compile_reason(wasm: &[u8], error: &wasmtime::Error) -> String {
    if !wasm.starts_with(b"\0asm") {
        return "not a WebAssembly file (it does not start with the \\0asm magic bytes)".into();
    }
    format!("{error:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The time since the Unix epoch that `now` (RFC 3339, the context's clock) names: what the
/// guest's wall clock reads. The epoch itself for a time before it or text that is not a time.
fn unix_time(now: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(now)
        .ok()
        .and_then(|at| Duration::from_secs(u64::try_from(at.timestamp()).ok()?).checked_add(Duration::from_nanos(at.timestamp_subsec_nanos().into())))
        .unwrap_or(Duration::ZERO)
}
