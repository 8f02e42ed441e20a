//! The WIT contract versions this host can load. Each released version has
//! its own module with one `bindgen!`; `latest` is the one new plugins target.
//! Nothing outside `runtime` sees generated types.

pub mod since_v0_1_0;

pub use since_v0_1_0 as latest;
