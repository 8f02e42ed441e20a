//! The `ml-connector` command line.

mod plugin;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ml-connector: Wave accounting events in, Twilio SMS and voice out, decided by wasm plugins.
#[derive(Debug, Parser)]
#[command(name = "ml-connector", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run, list and inspect plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Runs a parsed command line; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(cmd) => plugin::run(cmd),
    }
}
