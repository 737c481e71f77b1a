//! `anchorage`: the resolver's process — flags and config, logging,
//! listeners, and a clean stop on SIGTERM/SIGINT.

mod config;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Recursor, Transport};
use anchorage_resolver::{Pipeline, PipelineConfig};
use anchorage_server::Server;
use anchorage_validator::{Limits as ValidatorLimits, Validator};
use clap::{Parser, Subcommand};
use toml::Spanned;

use crate::config::{File, LogFormat, Settings};

/// A DNSSEC-validating recursive resolver.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML); flags override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to serve on (repeat for several); default 127.0.0.1:53 and [::1]:53.
    #[arg(long)]
    listen: Vec<String>,
    /// Worker threads; default one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Root hints file instead of the built-in IANA root servers.
    #[arg(long)]
    root_hints: Option<PathBuf>,
    /// Trust-anchor file (DS or DNSKEY, zone-file text) instead of the
    /// built-in IANA root anchors.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
    /// Answer-cache size, e.g. 512MiB.
    #[arg(long)]
    cache_size: Option<String>,
    /// Log format: human or json.
    #[arg(long)]
    log: Option<String>,
    /// Allow upstream servers on loopback and private ranges (labs only).
    #[arg(long)]
    allow_loopback_upstreams: bool,
    /// Port of upstream servers (labs only; 53 on the internet).
    #[arg(long)]
    upstream_port: Option<u16>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a configuration file and report every problem with its line.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return check_config(file);
    }
    let settings = match load(&cli) {
        Ok(s) => s,
        Err(problems) => {
            for p in problems {
                eprintln!("anchorage: {p}");
            }
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("anchorage: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("anchorage: {message}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("anchorage: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match config::parse(&text, path.parent().unwrap_or(Path::new("."))) {
        Ok(_) => {
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in problems {
                eprintln!("{}: {p}", path.display());
            }
            ExitCode::from(2)
        }
    }
}

/// The config file (if any) with the flags laid over it.
fn load(cli: &Cli) -> Result<Settings, Vec<config::Problem>> {
    let (mut file, text, base) = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                vec![config::Problem {
                    line: None,
                    message: format!("cannot read {}: {e}", path.display()),
                }]
            })?;
            let file: File = toml::from_str(&text).map_err(|e| {
                vec![config::Problem {
                    line: e.span().map(|s| text[..s.start].matches('\n').count() + 1),
                    message: format!("{}: {}", path.display(), e.message()),
                }]
            })?;
            (
                file,
                text,
                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            )
        }
        None => (File::default(), String::new(), PathBuf::from(".")),
    };
    let flag = |s: &String| Spanned::new(0..0, s.clone());
    if !cli.listen.is_empty() {
        file.listen = Some(cli.listen.iter().map(flag).collect());
    }
    file.threads = cli.threads.or(file.threads);
    if let Some(hints) = &cli.root_hints {
        // Flags are relative to the working directory, not the config file.
        file.root_hints = Some(std::env::current_dir().unwrap_or_default().join(hints));
    }
    if let Some(anchor) = &cli.trust_anchor {
        file.trust_anchor = Some(std::env::current_dir().unwrap_or_default().join(anchor));
    }
    if let Some(size) = &cli.cache_size {
        file.cache_size = Some(flag(size));
    }
    if let Some(log) = &cli.log {
        file.log = Some(flag(log));
    }
    if cli.allow_loopback_upstreams {
        file.allow_loopback_upstreams = Some(true);
    }
    file.upstream_port = cli.upstream_port.or(file.upstream_port);
    config::settle(&file, &text, &base)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ANCHORAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let seed = u64::from(std::process::id()) ^ 0x5eed_a4c8_07a6_e000;
    let transport = Transport::new(
        settings.iterator.edns_payload,
        settings.iterator.max_outstanding,
    );
    let recursor = Recursor::start(
        settings.iterator.clone(),
        transport,
        Arc::new(TokioClock),
        seed,
    )
    .await
    .map_err(|e| format!("cannot start the resolver: {e}"))?;
    let validator = Validator::new(Arc::new(settings.anchors), ValidatorLimits::default());
    let pipeline = Pipeline::new(
        recursor,
        validator,
        &PipelineConfig {
            cache: settings.cache,
            prefetch: settings.prefetch,
        },
    );
    let server = Server::start(&settings.server, Arc::new(pipeline)).map_err(|e| e.to_string())?;
    for addr in server.local_addrs() {
        tracing::info!(%addr, "serving UDP and TCP");
    }
    wait_for_signal().await;
    tracing::info!("stopping: draining queries in flight");
    let stats = server.shutdown().await;
    tracing::info!(udp = stats.udp_queries, tcp = stats.tcp_queries, "stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process still stops on SIGKILL.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
