//! `anchorage-testbed serve`: builds a signed hierarchy, writes its files,
//! serves it on loopback, and stops on SIGINT, SIGTERM or `--duration`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anchorage_testbed::output::write_outputs;
use anchorage_testbed::{AddressPlan, HierarchyConfig, Testbed, Validity, build};
use clap::{Parser, Subcommand};

/// Signatures start this long before start-up (clock skew margin).
const DEFAULT_INCEPTION_MARGIN_SECS: u32 = 3600;
/// Signatures last this long after start-up by default (30 days).
const DEFAULT_VALIDITY_SECS: u32 = 30 * 86_400;

#[derive(Parser)]
#[command(
    name = "anchorage-testbed",
    about = "A DNSSEC-signed DNS hierarchy on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build, write and serve a hierarchy.
    Serve {
        /// Second-level zones to build.
        #[arg(long, default_value_t = 100)]
        zones: usize,
        /// Seed of every choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory for root hints, anchor, zones, manifest, query files.
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many seconds (default: run until a signal).
        #[arg(long)]
        duration: Option<u64>,
        /// Second octet of the server addresses (127.N.x.y).
        #[arg(long, default_value_t = 53)]
        net: u8,
        /// Port of every server.
        #[arg(long, default_value_t = 53)]
        port: u16,
        /// Seconds signatures stay valid after start-up.
        #[arg(long, default_value_t = DEFAULT_VALIDITY_SECS)]
        validity: u32,
        /// Server worker threads.
        #[arg(long, default_value_t = anchorage_testbed::testbed::DEFAULT_SERVER_THREADS)]
        threads: usize,
        /// Leave out the defect zones.
        #[arg(long)]
        no_defects: bool,
    },
}

fn main() -> ExitCode {
    let Command::Serve {
        zones,
        seed,
        out,
        duration,
        net,
        port,
        validity,
        threads,
        no_defects,
    } = Cli::parse().command;
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let config = HierarchyConfig {
        seed,
        zones,
        addresses: AddressPlan { net, port },
        validity: Validity::around(now, DEFAULT_INCEPTION_MARGIN_SECS, validity),
        defects: !no_defects,
    };
    let hierarchy = match build(config) {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let built = started.elapsed();
    let paths = match write_outputs(&hierarchy, &out) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let count = hierarchy.zones.len();
    let root = hierarchy.config.addresses.root();
    let testbed = match Testbed::start_with_threads(hierarchy, threads) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    println!(
        "serving {count} zones, root at {root} port {port}; built and signed in {} ms, up in {} ms",
        built.as_millis(),
        started.elapsed().as_millis()
    );
    println!("root hints: {}", paths.root_hints.display());
    println!("trust anchor: {}", paths.anchor.display());
    println!("zones: {}", paths.zones.display());
    println!("manifest: {}", paths.manifest.display());
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the signal runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(wait_for_stop(duration));
    testbed.stop();
    println!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_stop(duration: Option<u64>) {
    let sleep = async {
        match duration {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = sleep => {}
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Prints the error chain as one sentence.
fn fail(error: &dyn std::error::Error) -> ExitCode {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    eprintln!("anchorage-testbed: {text}");
    ExitCode::FAILURE
}
