//! Serves the same hierarchy as `cold_rate` and counts the queries its
//! servers receive (UDP and TCP), so another resolver's upstream queries
//! per name can be compared with the iterator's on the same zones.
//!
//! `cargo run --release -p anchorage-iterator --example serve_counted -- 2000 42 53 120`
//! (zones, second octet of the 127.N.x.y addresses, port, seconds to
//! serve). Signs around the current time, so a validating resolver
//! accepts the zones. Writes the root hints, the root trust anchor and
//! the distinct manifest questions (dnsperf format) to the current
//! directory, then serves; prints the query counts every ten seconds and
//! when it stops.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anchorage_testbed::authority::Authority;
use anchorage_testbed::output::{root_hints_text, trust_anchor_text};
use anchorage_testbed::server::{Behaviour, Catalog, ServerSpec, SharedZone, handle};
use anchorage_testbed::{AddressPlan, HierarchyConfig, Validity, build};
use anchorage_wire::proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Longest a serve may last.
const MAX_SECS: u64 = 600;

#[derive(Default)]
struct Counts {
    udp: AtomicU64,
    tcp: AtomicU64,
}

impl Counts {
    fn line(&self) -> String {
        let (udp, tcp) = (
            self.udp.load(Ordering::Relaxed),
            self.tcp.load(Ordering::Relaxed),
        );
        format!("queries udp={udp} tcp={tcp} total={}", udp + tcp)
    }
}

/// Seconds since the Unix epoch, as RRSIG times count them.
fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut next = |default: u64| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let zones = usize::try_from(next(2000)).unwrap_or(2000);
    let net = u8::try_from(next(42)).unwrap_or(42);
    let port = u16::try_from(next(53)).unwrap_or(53);
    let secs = next(120).min(MAX_SECS);
    let plan = AddressPlan { net, port };
    let hierarchy = build(HierarchyConfig {
        seed: 11,
        zones,
        addresses: plan,
        validity: Validity::around(unix_now(), 3600, 86_400),
        defects: false,
    })
    .expect("testbed builds");
    let mut seen = HashSet::new();
    let mut questions = String::new();
    for e in &hierarchy.manifest.entries {
        if seen.insert((e.name.clone(), e.qtype)) {
            let _ = writeln!(questions, "{} {}", e.name, e.qtype);
        }
    }
    std::fs::write("root.hints", root_hints_text(plan.root())).expect("write root.hints");
    std::fs::write("questions.txt", questions).expect("write questions.txt");
    if let Some(plan) = hierarchy.zones.first().and_then(|z| z.plan.as_ref()) {
        std::fs::write("root.anchor", trust_anchor_text(&Name::root(), plan))
            .expect("write root.anchor");
    }
    let mut catalogs: HashMap<Ipv4Addr, Catalog> = HashMap::new();
    for served in hierarchy.zones {
        let shared: SharedZone = Arc::new(RwLock::new(Arc::new(Authority::new(served.zone))));
        catalogs.entry(served.server).or_default().insert(shared);
    }
    let counts = Arc::new(Counts::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (addr, catalog) in catalogs {
            let spec = Arc::new(ServerSpec {
                addr: SocketAddr::from((addr, port)),
                catalog: Arc::new(catalog),
                behaviour: Behaviour::Normal,
                log: None,
            });
            let udp = UdpSocket::bind(spec.addr).await.expect("bind UDP");
            let tcp = TcpListener::bind(spec.addr).await.expect("bind TCP");
            tokio::spawn(serve_udp(udp, spec.clone(), counts.clone()));
            tokio::spawn(serve_tcp(tcp, spec, counts.clone()));
        }
        println!("serving {zones} zones on 127.{net}.x.y port {port} for {secs} s");
        for _ in 0..secs / 10 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            println!("{}", counts.line());
        }
    });
    println!("final {}", counts.line());
}

async fn serve_udp(socket: UdpSocket, spec: Arc<ServerSpec>, counts: Arc<Counts>) {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::new();
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        counts.udp.fetch_add(1, Ordering::Relaxed);
        if handle(&spec, &buf[..len], true, &mut out) {
            let _ = socket.send_to(&out, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, spec: Arc<ServerSpec>, counts: Arc<Counts>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (spec, counts) = (spec.clone(), counts.clone());
        tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let mut len = [0u8; 2];
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len));
                if !matches!(read.await, Ok(Ok(_))) {
                    return;
                }
                let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut msg).await.is_err() {
                    return;
                }
                counts.tcp.fetch_add(1, Ordering::Relaxed);
                if !handle(&spec, &msg, false, &mut out) {
                    continue;
                }
                let Ok(prefix) = u16::try_from(out.len()) else {
                    return;
                };
                if stream.write_all(&prefix.to_be_bytes()).await.is_err()
                    || stream.write_all(&out).await.is_err()
                {
                    return;
                }
            }
        });
    }
}
