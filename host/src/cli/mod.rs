//! The `ml-connector` command line.

mod audit;
mod common;
mod events;
mod lifecycle;
mod messages;
mod optouts;
mod plugin;
mod qad;
mod secrets;
mod serve;
mod shadow;
mod wave;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ml-connector: Wave accounting events in, Twilio SMS and voice out, decided by wasm plugins.
#[derive(Debug, Parser)]
#[command(name = "ml-connector", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: ml-connector.toml in the working directory, if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive Wave webhooks, store them durably and dispatch them to the plugins.
    Serve,
    /// Run, list and inspect plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Manage secrets, encrypted at rest in the store.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Show and replay stored events.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Show the outbox: the messages plugins decided on.
    #[command(subcommand)]
    Outbox(events::OutboxCommand),
    /// Wave helpers.
    #[command(subcommand)]
    Wave(wave::WaveCommand),
    /// QAD tenants: status, and one poll cycle.
    #[command(subcommand)]
    Qad(qad::QadCommand),
    /// Show messages with their Twilio attempts and status history.
    Audit(audit::AuditArgs),
    /// Re-queue failed or undeliverable messages.
    #[command(subcommand)]
    Messages(messages::MessagesCommand),
    /// List and clear opt-outs by hand (recorded with who and when).
    #[command(subcommand)]
    Optouts(optouts::OptoutsCommand),
}

/// Runs a parsed command line; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_command(cli))
}

async fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Plugin(plugin::PluginCommand::Shadow(args)) => shadow::run(config, args).await,
        Command::Plugin(
            cmd @ (plugin::PluginCommand::Install { .. }
            | plugin::PluginCommand::Upgrade { .. }
            | plugin::PluginCommand::Rollback { .. }
            | plugin::PluginCommand::Enable { .. }
            | plugin::PluginCommand::Disable { .. }),
        ) => lifecycle::run(config, cmd).await,
        // Plugins run on the blocking pool: WASI's blocking calls may not run on an async worker.
        Command::Plugin(cmd) => {
            let config = config.map(Path::to_path_buf);
            tokio::task::spawn_blocking(move || plugin::run(config.as_deref(), cmd)).await?
        }
        Command::Secrets(cmd) => secrets::run(config, cmd).await,
        Command::Events(cmd) => events::run_events(config, cmd).await,
        Command::Outbox(cmd) => events::run_outbox(config, cmd).await,
        Command::Wave(cmd) => wave::run(config, cmd).await,
        Command::Audit(args) => audit::run(config, args).await,
        Command::Messages(cmd) => messages::run(config, cmd).await,
        Command::Optouts(cmd) => optouts::run(config, cmd).await,
        Command::Qad(cmd) => qad::run(config, cmd).await,
    }
}
