//! `anchorage`: the resolver's process — flags and config, logging,
//! listeners, the RFC 5011 probing shell, the `trust` commands, and a
//! clean stop on SIGTERM/SIGINT.

mod config;
mod probe;
mod trust_command;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anchorage_iterator::recursor::TokioClock;
use anchorage_iterator::{Recursor, Transport};
use anchorage_resolver::{Pipeline, PipelineConfig};
use anchorage_server::{MetricsListener, MetricsSources, Server, TrustReportSlot};
use anchorage_validator::{Limits as ValidatorLimits, NegativeTrustAnchors, Validator};
use clap::{Args, Parser, Subcommand};
use toml::Spanned;

use crate::config::{File, LogFormat, Settings};
use crate::probe::{Clock, SystemClock};

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
    /// Batched UDP receive and send (recvmmsg/sendmmsg; default true on
    /// Linux); false where sockets support only the plain calls.
    #[arg(long, value_name = "BOOL")]
    udp_batching: Option<bool>,
    /// Root hints file instead of the built-in IANA root servers.
    #[arg(long)]
    root_hints: Option<PathBuf>,
    /// Trust-anchor file (DS or DNSKEY zone-file text, or IANA's
    /// root-anchors.xml) instead of the built-in IANA root anchors; with
    /// RFC 5011 on, the tracker's seed.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
    /// Follow root KSK rollovers with RFC 5011 (default true).
    #[arg(long, value_name = "BOOL")]
    rfc5011: Option<bool>,
    /// Directory of the RFC 5011 state file (default /var/lib/anchorage).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// If the state directory cannot be written, run with the state in memory.
    #[arg(long)]
    state_in_memory_on_failure: bool,
    #[command(flatten)]
    timers: TimerFlags,
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
    /// Serve Prometheus metrics at http://ADDR/metrics (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Send the RFC 8145 key-tag query after each root DNSKEY probe (default
    /// true; probes run only with RFC 5011 on).
    #[arg(long, value_name = "BOOL")]
    trust_anchor_signaling: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// RFC 5011 timers (durations such as 30d, 12h, 10s, 500ms); labs shorten them.
#[derive(Debug, Default, Args)]
struct TimerFlags {
    /// Add hold-down (default 30d).
    #[arg(long)]
    add_hold_down: Option<String>,
    /// Remove hold-down (default 30d).
    #[arg(long)]
    remove_hold_down: Option<String>,
    /// How long a Missing key is kept while another is Valid (default 366d).
    #[arg(long)]
    keep_missing: Option<String>,
    /// Shortest refresh interval (default 1h).
    #[arg(long)]
    min_query_interval: Option<String>,
    /// Longest refresh interval (default 15d).
    #[arg(long)]
    max_query_interval: Option<String>,
    /// Shortest retry after a failed probe (default 1h).
    #[arg(long)]
    min_retry_interval: Option<String>,
    /// Longest retry after a failed probe (default 1d).
    #[arg(long)]
    max_retry_interval: Option<String>,
}

impl TimerFlags {
    /// Lays the flags given over the file's keys.
    fn apply(&self, file: &mut File) {
        let flag = |s: &String| Spanned::new(0..0, s.clone());
        for (value, slot) in [
            (&self.add_hold_down, &mut file.add_hold_down),
            (&self.remove_hold_down, &mut file.remove_hold_down),
            (&self.keep_missing, &mut file.keep_missing),
            (&self.min_query_interval, &mut file.min_query_interval),
            (&self.max_query_interval, &mut file.max_query_interval),
            (&self.min_retry_interval, &mut file.min_retry_interval),
            (&self.max_retry_interval, &mut file.max_retry_interval),
        ] {
            if let Some(value) = value {
                *slot = Some(flag(value));
            }
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a configuration file and report every problem with its line.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// RFC 5011 trust anchors: list the state, or simulate a root KSK roll.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Print every tracked root key from the state file (no network).
    List {
        /// Directory of the state file (default: the config's state-dir).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Run a whole root KSK roll against an in-process signing root on an
    /// accelerated clock and print the timeline; exits 1 unless it passes.
    Simulate {
        /// Simulated start, UTC (e.g. 2026-10-11T00:00:00Z); default now.
        #[arg(long)]
        start: Option<String>,
        /// Seed of the simulated root's keys.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        timers: TimerFlags,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::CheckConfig { file }) => return check_config(file),
        Some(Command::Trust { command }) => return trust(&cli, command),
        None => {}
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

/// `anchorage trust ...`: prints to stdout, one sentence on stderr on failure.
fn trust(cli: &Cli, command: &TrustCommand) -> ExitCode {
    let result = match command {
        TrustCommand::List { state_dir } => load(cli)
            .map_err(|problems| {
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .and_then(|settings| {
                let dir = state_dir.clone().unwrap_or(settings.trust.state_dir);
                trust_command::list(&dir, settings.trust.timers).map(|text| (text, true))
            }),
        TrustCommand::Simulate {
            start,
            seed,
            timers,
        } => simulation_start(start.as_deref()).and_then(|start| {
            let mut file = File::default();
            timers.apply(&mut file);
            let mut problems = Vec::new();
            let timers = config::timers(&file, "", &mut problems);
            if let Some(problem) = problems.first() {
                return Err(problem.to_string());
            }
            trust_command::simulate_roll(start, timers, *seed)
        }),
    };
    match result {
        Ok((text, passed)) => {
            print!("{text}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("anchorage: {message}");
            ExitCode::FAILURE
        }
    }
}

fn simulation_start(text: Option<&str>) -> Result<std::time::SystemTime, String> {
    match text {
        None => Ok(SystemClock.now()),
        Some(text) => anchorage_trust::utc::parse_utc(text)
            .map_err(|e| format!("--start {text:?}: {}", config::sentence(&e))),
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
    file.udp_batching = cli.udp_batching.or(file.udp_batching);
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
    file.rfc5011 = cli.rfc5011.or(file.rfc5011);
    if let Some(dir) = &cli.state_dir {
        file.state_dir = Some(std::env::current_dir().unwrap_or_default().join(dir));
    }
    if cli.state_in_memory_on_failure {
        file.state_in_memory_on_failure = Some(true);
    }
    cli.timers.apply(&mut file);
    file.upstream_port = cli.upstream_port.or(file.upstream_port);
    if let Some(addr) = &cli.metrics_listen {
        file.metrics_listen = Some(flag(addr));
    }
    file.trust_anchor_signaling = cli.trust_anchor_signaling.or(file.trust_anchor_signaling);
    config::settle(&file, &text, &base)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ANCHORAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    for note in &settings.anchor_notes {
        tracing::warn!("{note}");
    }
    // The state file is checked before anything is bound or sent: a bad
    // one stops the start with nothing half-running.
    let trust_report = Arc::new(TrustReportSlot::default());
    let shell = if settings.trust.rfc5011 {
        Some(probe::start(&settings.trust, Arc::new(SystemClock))?.reporting_to(&trust_report))
    } else {
        tracing::info!("RFC 5011 off: the root trust anchors are static");
        None
    };
    let anchors = match &shell {
        Some(shell) => shell.validator_anchors(),
        None => settings.anchors,
    };
    let seed = u64::from(std::process::id()) ^ 0x5eed_a4c8_07a6_e000;
    let transport = Transport::new(
        settings.iterator.edns_payload,
        settings.iterator.max_outstanding,
    );
    // The RRset store takes the record caches' share of the cache bounds.
    let recursor = Recursor::start(
        anchorage_iterator::Config {
            rrset_cache: settings.cache,
            ..settings.iterator.clone()
        },
        transport,
        Arc::new(TokioClock),
        seed,
    )
    .await
    .map_err(|e| format!("cannot start the resolver: {e}"))?;
    let stop = stop_signal();
    let validator = Validator::new(Arc::new(anchors), ValidatorLimits::default());
    validator.set_negative_anchors(Arc::new(negative_anchors(&settings.negative_anchors)));
    let pipeline = Arc::new(Pipeline::new(
        recursor,
        validator,
        &PipelineConfig {
            cache: settings.cache,
            prefetch: settings.prefetch,
        },
    ));
    // Metrics port first: if it is taken, start-up fails before any DNS
    // query is answered.
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => Some(
            MetricsListener::bind(addr)
                .await
                .map_err(|e| config::sentence(&e))?,
        ),
        None => None,
    };
    let server =
        Server::start(&settings.server, Arc::clone(&pipeline)).map_err(|e| e.to_string())?;
    for addr in server.local_addrs() {
        tracing::info!(%addr, "serving UDP and TCP");
    }
    let metrics = metrics_listener.map(|listener| {
        let sources = MetricsSources {
            server: Arc::clone(server.stats()),
            pipeline: (*pipeline).clone(),
            trust: shell.as_ref().map(|_| Arc::clone(&trust_report)),
        };
        let metrics = listener.serve(sources);
        tracing::info!(addr = %metrics.local_addr(), "serving metrics at /metrics");
        metrics
    });
    let probing = shell.map(|shell| tokio::spawn(shell.run(pipeline)));
    stop.await;
    tracing::info!("stopping: draining queries in flight");
    if let Some(task) = probing {
        // The state was saved after the last probe; a save never spans an await.
        task.abort();
    }
    drop(metrics);
    let stats = server.shutdown().await;
    tracing::info!(udp = stats.udp_queries, tcp = stats.tcp_queries, "stopped");
    Ok(())
}

/// The configured negative trust anchors, their lifetimes counted from now.
fn negative_anchors(configured: &[config::NtaSetting]) -> NegativeTrustAnchors {
    let now = std::time::SystemTime::now();
    configured.iter().fold(NegativeTrustAnchors::empty(), |ntas, nta| {
        tracing::warn!(
            domain = %nta.domain,
            lifetime = nta.lifetime.map_or_else(|| "until removed".to_owned(), config::format_duration),
            "negative trust anchor: DNSSEC validation is off at and below this domain"
        );
        ntas.with(&nta.domain, nta.lifetime, now)
    })
}

/// Installs the SIGTERM and SIGINT handlers now and returns the wait for
/// either: installed before the listeners start, so a signal sent as soon
/// as the service is up drains it instead of killing it.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers the process still stops on SIGKILL.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
