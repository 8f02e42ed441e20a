//! The default plugins, compiled to wasm by `build.rs` and embedded in the binary.

/// A default plugin shipped inside the `ml-connector` binary.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The plugin's name, as configured in `[[plugins]] name = "…"`.
    pub name: &'static str,
    /// The component's bytes (`wasm32-wasip2`).
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// Every default plugin, in name order.
pub fn all() -> &'static [Builtin] {
    BUILTINS
}

/// The default plugin called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
