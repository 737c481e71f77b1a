//! The configuration file (TOML) and the command-line flags that override it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anchorage_cache::{CacheLimits, parse_size};
use anchorage_iterator::RootHints;
use anchorage_iterator::config::{Config as IteratorConfig, QnameMinimisation};
use anchorage_server::{Access, Acl, ServerConfig};
use anchorage_trust::xml::{anchors_from_xml, looks_like_xml};
use anchorage_trust::{Anchor, Persistence, Timers, anchors_from_text, builtin_root_anchors};
use anchorage_validator::TrustAnchors;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::rr::{Name, RData, Record};
use serde::Deserialize;
use toml::Spanned;

/// Default listen addresses: loopback only, so a fresh install is not an
/// open resolver.
pub const DEFAULT_LISTEN: [&str; 2] = ["127.0.0.1:53", "[::1]:53"];
/// Where the RFC 5011 state lives unless `state-dir` says otherwise (FHS
/// `/var/lib`: state that survives reboots).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/anchorage";
/// The root trust point's state file inside the state directory.
pub const ROOT_STATE_FILE: &str = "root.state";

/// The file's contents, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct File {
    /// Addresses to serve on.
    pub listen: Option<Vec<Spanned<String>>>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Batched UDP receive and send (recvmmsg/sendmmsg; default true on
    /// Linux); false for sandboxes whose sockets support only the plain calls.
    pub udp_batching: Option<bool>,
    /// Root hints file instead of the built-in IANA hints.
    pub root_hints: Option<PathBuf>,
    /// Trust-anchor file (DS or DNSKEY records, zone-file text) instead of
    /// the built-in IANA root anchors.
    pub trust_anchor: Option<PathBuf>,
    /// Answer-cache size, e.g. "512MiB".
    pub cache_size: Option<Spanned<String>>,
    /// "human" or "json".
    pub log: Option<Spanned<String>>,
    /// Allow upstream servers on loopback and private ranges (labs, tests).
    pub allow_loopback_upstreams: Option<bool>,
    /// Query IPv6 upstream servers.
    pub ipv6_upstream: Option<bool>,
    /// "off", "relaxed" or "strict".
    pub qname_minimisation: Option<Spanned<String>>,
    /// Refresh popular answers just before they expire.
    pub prefetch: Option<bool>,
    /// Port of upstream servers (53 on the internet; labs use others).
    pub upstream_port: Option<u16>,
    /// Follow root KSK rollovers with RFC 5011 (default true); off, the
    /// anchors are static.
    pub rfc5011: Option<bool>,
    /// Directory of the RFC 5011 state file.
    pub state_dir: Option<PathBuf>,
    /// If the state directory cannot be written at start-up, keep the state
    /// in memory with a loud warning instead of refusing to start.
    pub state_in_memory_on_failure: Option<bool>,
    /// RFC 5011 add hold-down (default 30d).
    pub add_hold_down: Option<Spanned<String>>,
    /// RFC 5011 remove hold-down (default 30d).
    pub remove_hold_down: Option<Spanned<String>>,
    /// How long a Missing key stays trusted while another is Valid (default 366d).
    pub keep_missing: Option<Spanned<String>>,
    /// Shortest active refresh interval (default 1h).
    pub min_query_interval: Option<Spanned<String>>,
    /// Longest active refresh interval (default 15d).
    pub max_query_interval: Option<Spanned<String>>,
    /// Shortest retry after a failed probe (default 1h).
    pub min_retry_interval: Option<Spanned<String>>,
    /// Longest retry after a failed probe (default 1d).
    pub max_retry_interval: Option<Spanned<String>>,
    /// Access control.
    pub access: Option<AccessFile>,
    /// Address of the Prometheus `GET /metrics` listener (default: off).
    pub metrics_listen: Option<Spanned<String>>,
    /// Send the RFC 8145 key-tag query after each root DNSKEY probe (default
    /// true; probes run only with RFC 5011 on).
    pub trust_anchor_signaling: Option<bool>,
    /// `[[negative-trust-anchor]]` tables (RFC 7646).
    pub negative_trust_anchor: Option<Vec<NtaFile>>,
}

/// One `[[negative-trust-anchor]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtaFile {
    /// The domain validation is turned off at and below.
    pub domain: Spanned<String>,
    /// How long after start-up it applies (default [`DEFAULT_NTA_LIFETIME`]);
    /// `"none"` keeps it until it is removed from the file.
    pub lifetime: Option<Spanned<String>>,
}

/// How long a negative trust anchor lasts when the file gives no
/// lifetime: one hour, as BIND's `nta-lifetime` (RFC 7646 §2: an NTA is a
/// temporary measure that must not be forgotten and silently left on).
pub const DEFAULT_NTA_LIFETIME: Duration = Duration::from_hours(1);

/// A negative trust anchor, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtaSetting {
    /// The domain, lower-case and fully qualified.
    pub domain: Name,
    /// How long it applies from start-up; `None`: until removed.
    pub lifetime: Option<Duration>,
}

/// The `[access]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
    /// Prefixes allowed, on top of (or, with `defaults = false`, instead of) the defaults.
    pub allow: Option<Vec<Spanned<String>>>,
    /// Prefixes refused with REFUSED.
    pub refuse: Option<Vec<Spanned<String>>>,
    /// Prefixes whose packets are dropped silently.
    pub drop: Option<Vec<Spanned<String>>>,
    /// Keep the built-in allow list (loopback and private ranges).
    pub defaults: Option<bool>,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything the process needs, checked.
#[derive(Debug)]
pub struct Settings {
    /// Listener settings.
    pub server: ServerConfig,
    /// Worker threads.
    pub threads: usize,
    /// Iterator settings.
    pub iterator: IteratorConfig,
    /// Cache bounds.
    pub cache: CacheLimits,
    /// Background refresh of popular answers.
    pub prefetch: bool,
    /// Log format.
    pub log: LogFormat,
    /// DNSSEC trust anchors when RFC 5011 is off.
    pub anchors: TrustAnchors,
    /// RFC 5011 tracking.
    pub trust: TrustSettings,
    /// Where `GET /metrics` is served; `None`: no metrics listener.
    pub metrics_listen: Option<SocketAddr>,
    /// What reading the trust-anchor file left out and why, logged at start
    /// (settings are read before logging begins).
    pub anchor_notes: Vec<String>,
    /// Negative trust anchors (RFC 7646), in file order.
    pub negative_anchors: Vec<NtaSetting>,
}

/// Where the tracker's seed anchors come from (logged at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedSource {
    /// The IANA root anchors compiled in.
    BuiltIn,
    /// An operator's trust-anchor file, which replaces them.
    File(PathBuf),
}

/// The RFC 5011 settings, checked.
#[derive(Debug, Clone)]
pub struct TrustSettings {
    /// Track the root KSK; when false, [`Settings::anchors`] are static.
    pub rfc5011: bool,
    /// Directory of the state file.
    pub state_dir: PathBuf,
    /// What to do if it cannot be written at start-up.
    pub persistence: Persistence,
    /// Hold-downs and probe intervals.
    pub timers: Timers,
    /// The tracker's seed when there is no state (root anchors only).
    pub seed: Vec<Anchor>,
    /// Where the seed came from.
    pub seed_source: SeedSource,
    /// Send the RFC 8145 §5.1 key-tag query after each valid probe.
    pub signaling: bool,
}

impl TrustSettings {
    /// The root trust point's state file.
    pub fn state_path(&self) -> PathBuf {
        self.state_dir.join(ROOT_STATE_FILE)
    }
}

/// One problem in a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Reads and checks a configuration file's text; returns every problem.
pub fn parse(text: &str, hints_base: &Path) -> Result<Settings, Vec<Problem>> {
    let file: File = toml::from_str(text).map_err(|e| {
        vec![Problem {
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_owned(),
        }]
    })?;
    settle(&file, text, hints_base)
}

/// Turns the file (possibly empty, with flags merged in) into settings.
pub fn settle(file: &File, text: &str, base: &Path) -> Result<Settings, Vec<Problem>> {
    let mut problems = Vec::new();
    let at = |s: &Spanned<String>| Some(line_of(text, s.span().start));

    let mut listen = Vec::new();
    let default_listen: Vec<Spanned<String>> = DEFAULT_LISTEN
        .iter()
        .map(|a| Spanned::new(0..0, (*a).to_owned()))
        .collect();
    for addr in file.listen.as_ref().unwrap_or(&default_listen) {
        match addr.get_ref().parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => problems.push(Problem {
                line: at(addr).filter(|_| file.listen.is_some()),
                message: format!("listen address {:?} is not IP:port", addr.get_ref()),
            }),
        }
    }

    let acl = access_list(file, text, &mut problems);

    let mut cache = CacheLimits::default();
    if let Some(size) = &file.cache_size {
        match parse_size(size.get_ref()) {
            Ok(bytes) => cache.answer_bytes = bytes,
            Err(e) => problems.push(Problem {
                line: at(size),
                message: format!("cache-size {:?}: {e}", size.get_ref()),
            }),
        }
    }

    let log = match file.log.as_ref().map(|l| (l, l.get_ref().as_str())) {
        None | Some((_, "human")) => LogFormat::Human,
        Some((_, "json")) => LogFormat::Json,
        Some((l, other)) => {
            problems.push(Problem {
                line: at(l),
                message: format!("log {other:?} is neither \"human\" nor \"json\""),
            });
            LogFormat::Human
        }
    };

    let iterator = iterator_settings(file, text, base, &mut problems);

    let rfc5011 = file.rfc5011.unwrap_or(true);
    let (anchors, seed, anchor_notes) = anchors_or_seed(file, base, rfc5011, &mut problems);
    let trust = TrustSettings {
        rfc5011,
        state_dir: file
            .state_dir
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), |dir| base.join(dir)),
        persistence: if file.state_in_memory_on_failure == Some(true) {
            Persistence::InMemoryOnFailure
        } else {
            Persistence::Required
        },
        timers: timers(file, text, &mut problems),
        seed,
        seed_source: file
            .trust_anchor
            .as_ref()
            .map_or(SeedSource::BuiltIn, |p| SeedSource::File(base.join(p))),
        signaling: file.trust_anchor_signaling.unwrap_or(true),
    };
    let metrics_listen = metrics_listen(file, text, &mut problems);

    let negative_anchors = negative_anchors(file, text, &mut problems);

    let threads = file
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    if threads == 0 {
        problems.push(Problem {
            line: None,
            message: "threads must be at least 1".to_owned(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Settings {
        server: ServerConfig {
            listen,
            udp_workers: threads,
            udp_batching: file
                .udp_batching
                .unwrap_or(anchorage_server::DEFAULT_UDP_BATCHING),
            acl,
            ..ServerConfig::default()
        },
        threads,
        iterator,
        cache,
        prefetch: file.prefetch.unwrap_or(false),
        log,
        anchors,
        trust,
        metrics_listen,
        anchor_notes,
        negative_anchors,
    })
}

/// The static anchors (RFC 5011 off) or the tracker's seed (on), and the
/// notes on what the anchor file left out.
fn anchors_or_seed(
    file: &File,
    base: &Path,
    rfc5011: bool,
    problems: &mut Vec<Problem>,
) -> (TrustAnchors, Vec<Anchor>, Vec<String>) {
    let mut notes = Vec::new();
    if rfc5011 {
        let seed = seed_anchors(file, base, problems, &mut notes);
        (TrustAnchors::empty(), seed, notes)
    } else {
        let anchors = trust_anchors(file, base, problems, &mut notes);
        (anchors, Vec::new(), notes)
    }
}

/// The `metrics-listen` address, if set and valid.
fn metrics_listen(file: &File, text: &str, problems: &mut Vec<Problem>) -> Option<SocketAddr> {
    let addr = file.metrics_listen.as_ref()?;
    addr.get_ref().parse().map_or_else(
        |_| {
            problems.push(Problem {
                line: line_of_value(text, addr),
                message: format!("metrics-listen {:?} is not IP:port", addr.get_ref()),
            });
            None
        },
        Some,
    )
}

/// The `[[negative-trust-anchor]]` tables: each domain a valid name below
/// the root, each lifetime a duration or `"none"`.
fn negative_anchors(file: &File, text: &str, problems: &mut Vec<Problem>) -> Vec<NtaSetting> {
    let at = |s: &Spanned<String>| line_of_value(text, s);
    let mut out = Vec::new();
    for nta in file.negative_trust_anchor.iter().flatten() {
        let raw = nta.domain.get_ref();
        let domain = match Name::from_ascii(raw.trim()) {
            _ if raw
                .trim()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()) =>
            {
                problems.push(Problem {
                    line: at(&nta.domain),
                    message: format!(
                        "negative-trust-anchor domain {raw:?} is not a domain name: it holds a space or control character"
                    ),
                });
                continue;
            }
            Ok(name) if raw.trim().is_empty() || name.is_root() => {
                problems.push(Problem {
                    line: at(&nta.domain),
                    message: format!(
                        "negative-trust-anchor domain {raw:?} is the root: that turns validation off for everything"
                    ),
                });
                continue;
            }
            Ok(name) => {
                let mut name = name.to_lowercase();
                name.set_fqdn(true);
                name
            }
            Err(e) => {
                problems.push(Problem {
                    line: at(&nta.domain),
                    message: format!(
                        "negative-trust-anchor domain {raw:?} is not a domain name: {e}"
                    ),
                });
                continue;
            }
        };
        let lifetime = match &nta.lifetime {
            None => Some(DEFAULT_NTA_LIFETIME),
            Some(l) if l.get_ref().trim() == "none" => None,
            Some(l) => {
                let Some(d) = parse_duration(l.get_ref()).filter(|d| !d.is_zero()) else {
                    problems.push(Problem {
                        line: at(l),
                        message: format!(
                            "negative-trust-anchor lifetime {:?} is not \"none\" or a duration such as 1h, 7d or 30m",
                            l.get_ref()
                        ),
                    });
                    continue;
                };
                Some(d)
            }
        };
        if out.iter().any(|n: &NtaSetting| n.domain == domain) {
            problems.push(Problem {
                line: at(&nta.domain),
                message: format!("negative-trust-anchor domain {domain} is listed twice"),
            });
            continue;
        }
        out.push(NtaSetting { domain, lifetime });
    }
    out
}

/// The RFC 5011 timers: the RFC's, with the file's durations laid over them.
pub fn timers(file: &File, text: &str, problems: &mut Vec<Problem>) -> Timers {
    let mut timers = Timers::default();
    for (key, value, slot) in [
        (
            "add-hold-down",
            &file.add_hold_down,
            &mut timers.add_hold_down,
        ),
        (
            "remove-hold-down",
            &file.remove_hold_down,
            &mut timers.remove_hold_down,
        ),
        ("keep-missing", &file.keep_missing, &mut timers.keep_missing),
        (
            "min-query-interval",
            &file.min_query_interval,
            &mut timers.min_query_interval,
        ),
        (
            "max-query-interval",
            &file.max_query_interval,
            &mut timers.max_query_interval,
        ),
        (
            "min-retry-interval",
            &file.min_retry_interval,
            &mut timers.min_retry_interval,
        ),
        (
            "max-retry-interval",
            &file.max_retry_interval,
            &mut timers.max_retry_interval,
        ),
    ] {
        let Some(value) = value else { continue };
        match parse_duration(value.get_ref()) {
            Some(d) => *slot = d,
            None => problems.push(Problem {
                line: line_of_value(text, value),
                message: format!(
                    "{key} {:?} is not a duration such as 30d, 12h, 10m, 5s or 500ms",
                    value.get_ref()
                ),
            }),
        }
    }
    // A configured add hold-down is exact, as Unbound's add-holddown: a lab
    // value must not be stretched to the set's TTL (RFC 5011 §2.4.1).
    timers.ttl_extends_add_hold_down = file.add_hold_down.is_none();
    for (name, min, max) in [
        (
            "query",
            timers.min_query_interval,
            timers.max_query_interval,
        ),
        (
            "retry",
            timers.min_retry_interval,
            timers.max_retry_interval,
        ),
    ] {
        if min.is_zero() {
            problems.push(Problem {
                line: None,
                message: format!("min-{name}-interval must be longer than zero"),
            });
        } else if min > max {
            problems.push(Problem {
                line: None,
                message: format!(
                    "min-{name}-interval {} is longer than max-{name}-interval {}",
                    format_duration(min),
                    format_duration(max)
                ),
            });
        }
    }
    timers
}

/// Parses `30d`, `12h`, `10m`, `5s` or `500ms`: a whole number and a unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs);
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    }
}

/// A duration in the largest unit [`parse_duration`] reads that divides it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (per, unit) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if ms != 0 && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// The RFC 5011 seed: the file's root anchors, or the built-in IANA root
/// anchors valid today (KSK-2017 and KSK-2024, root-anchors.xml).
fn seed_anchors(
    file: &File,
    base: &Path,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Vec<Anchor> {
    let Some(path) = &file.trust_anchor else {
        return builtin_root_anchors(SystemTime::now());
    };
    let path = base.join(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem {
                line: None,
                message: format!("cannot read trust anchor {}: {e}", path.display()),
            });
            return Vec::new();
        }
    };
    if looks_like_xml(&text) {
        return xml_anchors(&text, &path, problems, notes);
    }
    anchors_from_text(&text, &Name::root()).unwrap_or_else(|e| {
        problems.push(Problem {
            line: None,
            message: format!(
                "trust anchor {}: {}{}",
                path.display(),
                sentence(&e),
                if matches!(e, anchorage_trust::AnchorError::WrongOwner { .. }) {
                    " (RFC 5011 tracks the root only: set rfc5011 = false for other anchors)"
                } else {
                    ""
                }
            ),
        });
        Vec::new()
    })
}

/// An error and its causes as one sentence: `outer: inner: innermost`.
pub fn sentence(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}

/// The access rules: the defaults (unless turned off) plus the file's.
fn access_list(file: &File, text: &str, problems: &mut Vec<Problem>) -> Acl {
    let mut acl = Acl::default();
    if let Some(access) = &file.access {
        if access.defaults == Some(false) {
            acl = Acl::empty();
        }
        for (list, action) in [
            (&access.allow, Access::Allow),
            (&access.refuse, Access::Refuse),
            (&access.drop, Access::Drop),
        ] {
            for prefix in list.iter().flatten() {
                if let Err(e) = acl.add(prefix.get_ref(), action) {
                    problems.push(Problem {
                        line: Some(line_of(text, prefix.span().start)),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    acl
}

/// The iterator's settings from the file.
fn iterator_settings(
    file: &File,
    text: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> IteratorConfig {
    let at = |s: &Spanned<String>| Some(line_of(text, s.span().start));
    let mut iterator = IteratorConfig::default();
    match file
        .qname_minimisation
        .as_ref()
        .map(|q| (q, q.get_ref().as_str()))
    {
        None => {}
        Some((_, "off")) => iterator.qname_minimisation = QnameMinimisation::Off,
        Some((_, "relaxed")) => iterator.qname_minimisation = QnameMinimisation::Relaxed,
        Some((_, "strict")) => iterator.qname_minimisation = QnameMinimisation::Strict,
        Some((q, other)) => problems.push(Problem {
            line: at(q),
            message: format!("qname-minimisation {other:?} is not off, relaxed or strict"),
        }),
    }
    if let Some(path) = &file.root_hints {
        let path = base.join(path);
        match std::fs::read_to_string(&path) {
            Ok(text) => match RootHints::parse(&text) {
                Ok(hints) => iterator.hints = hints,
                Err(e) => problems.push(Problem {
                    line: None,
                    message: format!("root hints {}: {e}", path.display()),
                }),
            },
            Err(e) => problems.push(Problem {
                line: None,
                message: format!("cannot read root hints {}: {e}", path.display()),
            }),
        }
    }
    iterator.allow_loopback_upstreams = file.allow_loopback_upstreams.unwrap_or(false);
    iterator.ipv6_upstream = file.ipv6_upstream.unwrap_or(true);
    if let Some(port) = file.upstream_port {
        iterator.upstream_port = port;
    }
    if iterator.hints.all_loopback() && !iterator.allow_loopback_upstreams {
        problems.push(Problem {
            line: None,
            message:
                "the root hints are all on loopback: set allow-loopback-upstreams = true for a lab"
                    .to_owned(),
        });
    }

    iterator
}

/// The trust anchors: the file's, or the built-in IANA root anchors valid
/// today (KSK-2017 and KSK-2024, root-anchors.xml).
fn trust_anchors(
    file: &File,
    base: &Path,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> TrustAnchors {
    let text = match &file.trust_anchor {
        Some(path) => {
            let path = base.join(path);
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(Problem {
                        line: None,
                        message: format!("cannot read trust anchor {}: {e}", path.display()),
                    });
                    return TrustAnchors::empty();
                }
            }
        }
        None => builtin_anchor_text(),
    };
    if looks_like_xml(&text) {
        let path = file
            .trust_anchor
            .as_ref()
            .map(|p| base.join(p))
            .unwrap_or_default();
        let records = anchor_records(&xml_anchors(&text, &path, problems, notes));
        // `anchor_records` makes DS and DNSKEY records only, the kinds
        // `from_records` takes.
        return TrustAnchors::from_records(records).unwrap_or_else(|e| {
            problems.push(Problem {
                line: None,
                message: format!("trust anchor: {e}"),
            });
            TrustAnchors::empty()
        });
    }
    TrustAnchors::from_zone_text(&text).unwrap_or_else(|e| {
        problems.push(Problem {
            line: None,
            message: format!("trust anchor: {e}"),
        });
        TrustAnchors::empty()
    })
}

/// Root anchors from an IANA root-anchors.xml document, valid now; the
/// entries left out (outside their validity window, or with a digest that
/// does not match their key) become notes for the log.
fn xml_anchors(
    text: &str,
    path: &Path,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) -> Vec<Anchor> {
    match anchors_from_xml(text, SystemTime::now()) {
        Ok(read) => {
            notes.extend(read.skipped.iter().map(ToString::to_string));
            if read.anchors.is_empty() {
                problems.push(Problem {
                    line: None,
                    message: format!(
                        "trust anchor {}: no KeyDigest in it is valid now",
                        path.display()
                    ),
                });
            }
            read.anchors
        }
        Err(e) => {
            problems.push(Problem {
                line: None,
                message: format!("trust anchor {}: {}", path.display(), sentence(&e)),
            });
            Vec::new()
        }
    }
}

/// `anchors` as DS and DNSKEY records owned by the root.
fn anchor_records(anchors: &[Anchor]) -> Vec<Record> {
    anchors
        .iter()
        .map(|anchor| {
            let rdata = match anchor {
                Anchor::Ds(ds) => RData::DNSSEC(DNSSECRData::DS(ds.ds())),
                Anchor::Dnskey(key) => RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey())),
            };
            Record::from_rdata(
                Name::root(),
                anchorage_trust::anchor::ANCHOR_TEXT_TTL,
                rdata,
            )
        })
        .collect()
}

/// The built-in root anchors valid now, as DS lines.
fn builtin_anchor_text() -> String {
    use std::fmt::Write;
    let now = std::time::SystemTime::now();
    let mut text = String::new();
    for a in anchorage_trust::BUILTIN_ROOT_ANCHORS
        .iter()
        .filter(|a| a.is_valid_at(now))
    {
        // Invariant: writing to a String cannot fail.
        let _ = writeln!(
            text,
            ". 172800 IN DS {} {} {} {}",
            a.tag, a.algorithm, a.digest_type, a.digest
        );
    }
    text
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of a value read from the file; `None` for one a flag set (its
/// span is empty).
fn line_of_value<T>(text: &str, value: &Spanned<T>) -> Option<usize> {
    Some(line_of(text, value.span().start)).filter(|_| !value.span().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_safe_defaults() {
        let s = parse("", Path::new("/")).unwrap();
        assert_eq!(s.server.listen.len(), 2);
        assert!(s.server.listen.iter().all(|a| a.ip().is_loopback()));
        assert!(!s.iterator.allow_loopback_upstreams);
        assert!(
            !s.iterator.hints.all_loopback(),
            "built-in hints are the IANA roots"
        );
        assert!(!s.prefetch);
        assert_eq!(s.log, LogFormat::Human);
        assert!(s.trust.rfc5011, "RFC 5011 on by default");
        assert_eq!(s.trust.state_dir, Path::new(DEFAULT_STATE_DIR));
        assert_eq!(s.trust.persistence, Persistence::Required);
        assert_eq!(s.trust.timers, Timers::default());
        assert_eq!(s.trust.seed_source, SeedSource::BuiltIn);
        let tags: Vec<u16> = s.trust.seed.iter().map(Anchor::tag).collect();
        assert_eq!(
            tags,
            [20326, 38696],
            "built-in root anchors seed the tracker"
        );
        let off = parse("rfc5011 = false\n", Path::new("/")).unwrap();
        assert!(
            off.anchors.closest(&Name::root()).is_some(),
            "built-in root anchors, static"
        );
    }

    #[test]
    fn timers_read_durations_and_a_set_add_hold_down_is_exact() {
        let s = parse(
            "add-hold-down = \"3s\"\nremove-hold-down = \"2h\"\n\
             min-query-interval = \"100ms\"\nmax-query-interval = \"1d\"\n\
             state-dir = \"state\"\nstate-in-memory-on-failure = true\n",
            Path::new("/etc/anchorage"),
        )
        .unwrap();
        let t = s.trust.timers;
        assert_eq!(t.add_hold_down, Duration::from_secs(3));
        assert!(!t.ttl_extends_add_hold_down);
        assert_eq!(t.remove_hold_down, Duration::from_hours(2));
        assert_eq!(t.min_query_interval, Duration::from_millis(100));
        assert_eq!(t.max_query_interval, Duration::from_hours(24));
        assert_eq!(s.trust.state_dir, Path::new("/etc/anchorage/state"));
        assert_eq!(s.trust.persistence, Persistence::InMemoryOnFailure);
        assert!(Timers::default().ttl_extends_add_hold_down);
    }

    #[test]
    fn bad_timers_are_reported_with_their_line() {
        let problems = parse(
            "threads = 1\nadd-hold-down = \"soon\"\nmin-retry-interval = \"2d\"\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(problems[0].line, Some(2), "{problems:?}");
        assert!(problems[0].message.contains("add-hold-down \"soon\""));
        assert!(
            problems[1]
                .message
                .contains("min-retry-interval 2d is longer than max-retry-interval 1d"),
            "{problems:?}"
        );
        let zero = parse("min-query-interval = \"0s\"\n", Path::new("/")).unwrap_err();
        assert!(zero[0].message.contains("longer than zero"));
    }

    #[test]
    fn durations_parse_and_print_in_the_same_units() {
        for (text, d) in [
            ("30d", Duration::from_hours(720)),
            ("12h", Duration::from_hours(12)),
            ("10m", Duration::from_mins(10)),
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
        ] {
            assert_eq!(parse_duration(text), Some(d), "{text}");
            assert_eq!(format_duration(d), text);
        }
        for bad in ["", "5", "d", "5 weeks", "-1s", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_non_root_anchor_file_needs_rfc5011_off() {
        let dir = std::env::temp_dir().join(format!("anchorage-anchor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("anchor"),
            "example. 3600 IN DS 1 13 2 \
             0000000000000000000000000000000000000000000000000000000000000000\n",
        )
        .unwrap();
        let problems = parse("trust-anchor = \"anchor\"\n", &dir).unwrap_err();
        assert!(
            problems[0].message.contains("set rfc5011 = false"),
            "{problems:?}"
        );
        assert!(parse("trust-anchor = \"anchor\"\nrfc5011 = false\n", &dir).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "listen = [\"127.0.0.1:53\", \"nonsense\"]\n\
                    cache-size = \"12 parsecs\"\n\
                    log = \"xml\"\n\
                    [access]\n\
                    allow = [\"10.0.0.0/33\"]\n";
        let problems = parse(text, Path::new("/")).unwrap_err();
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(1), Some(5), Some(2), Some(3)], "{problems:?}");
        assert!(
            problems[0]
                .to_string()
                .starts_with("line 1: listen address \"nonsense\"")
        );
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_refused_with_a_line() {
        let problems = parse("threads = 2\nlisten-on = []\n", Path::new("/")).unwrap_err();
        assert_eq!(problems[0].line, Some(2));
        assert!(problems[0].message.contains("listen-on"));
        let problems = parse("threads = \n", Path::new("/")).unwrap_err();
        assert_eq!(problems[0].line, Some(1));
    }

    #[test]
    fn udp_batching_is_on_by_default_on_linux_and_can_be_turned_off() {
        let on = parse("", Path::new("/")).unwrap();
        assert_eq!(on.server.udp_batching, cfg!(target_os = "linux"));
        let off = parse("udp-batching = false\n", Path::new("/")).unwrap();
        assert!(!off.server.udp_batching);
        let problems = parse("threads = 1\nudp-batching = \"no\"\n", Path::new("/")).unwrap_err();
        assert_eq!(problems[0].line, Some(2), "{problems:?}");
    }

    #[test]
    fn negative_trust_anchors_read_domains_and_lifetimes() {
        let s = parse(
            "[[negative-trust-anchor]]\ndomain = \"Broken.Example\"\n\
             [[negative-trust-anchor]]\ndomain = \"other.example.\"\nlifetime = \"7d\"\n\
             [[negative-trust-anchor]]\ndomain = \"kept.example\"\nlifetime = \"none\"\n",
            Path::new("/"),
        )
        .unwrap();
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert_eq!(
            s.negative_anchors,
            [
                NtaSetting {
                    domain: n("broken.example."),
                    lifetime: Some(DEFAULT_NTA_LIFETIME)
                },
                NtaSetting {
                    domain: n("other.example."),
                    lifetime: Some(Duration::from_hours(7 * 24))
                },
                NtaSetting {
                    domain: n("kept.example."),
                    lifetime: None
                },
            ]
        );
        assert!(
            parse("", Path::new("/"))
                .unwrap()
                .negative_anchors
                .is_empty()
        );
    }

    #[test]
    fn bad_negative_trust_anchors_are_reported_with_their_line() {
        let text = "threads = 1\n\
                    [[negative-trust-anchor]]\n\
                    domain = \"a..example\"\n\
                    [[negative-trust-anchor]]\n\
                    domain = \"ok.example\"\n\
                    lifetime = \"an hour\"\n\
                    [[negative-trust-anchor]]\n\
                    domain = \".\"\n\
                    [[negative-trust-anchor]]\n\
                    domain = \"sp ace.example\"\n\
                    [[negative-trust-anchor]]\n\
                    domain = \"x.example\"\n\
                    lifetime = \"0s\"\n\
                    [[negative-trust-anchor]]\n\
                    lifetime = \"1h\"\n";
        let problems = parse(text, Path::new("/")).unwrap_err();
        assert_eq!(
            problems.len(),
            1,
            "missing domain is a syntax error: {problems:?}"
        );
        assert_eq!(problems[0].line, Some(14), "{problems:?}");
        assert!(problems[0].message.contains("domain"), "{problems:?}");
        let text = text
            .rsplit_once("[[negative-trust-anchor]]\nlifetime")
            .unwrap()
            .0;
        let problems = parse(text, Path::new("/")).unwrap_err();
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert_eq!(
            lines,
            [Some(3), Some(6), Some(8), Some(10), Some(13)],
            "{problems:?}"
        );
        assert!(
            problems[0]
                .message
                .contains("\"a..example\" is not a domain name")
        );
        assert!(problems[1].message.contains("lifetime \"an hour\""));
        assert!(problems[2].message.contains("is the root"));
        assert!(problems[3].message.contains("space"));
        assert!(problems[4].message.contains("lifetime \"0s\""));
        let twice = parse(
            "[[negative-trust-anchor]]\ndomain = \"a.example\"\n\
             [[negative-trust-anchor]]\ndomain = \"A.example.\"\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(twice[0].line, Some(4));
        assert!(twice[0].message.contains("listed twice"));
    }

    #[test]
    fn loopback_hints_need_the_lab_switch() {
        let dir = std::env::temp_dir().join(format!("anchorage-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hints"),
            ". 3600 IN NS a.root.test.\na.root.test. 3600 IN A 127.53.0.1\n",
        )
        .unwrap();
        let problems = parse("root-hints = \"hints\"\n", &dir).unwrap_err();
        assert!(problems[0].message.contains("allow-loopback-upstreams"));
        let ok = parse(
            "root-hints = \"hints\"\nallow-loopback-upstreams = true\n",
            &dir,
        )
        .unwrap();
        assert!(ok.iterator.hints.all_loopback());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn metrics_listen_and_trust_anchor_signaling_are_read() {
        let s = parse("", Path::new("/")).unwrap();
        assert_eq!(s.metrics_listen, None, "metrics off by default");
        assert!(s.trust.signaling, "RFC 8145 signalling on by default");
        let s = parse(
            "metrics-listen = \"127.0.0.1:9153\"\ntrust-anchor-signaling = false\n",
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9153".parse().unwrap()));
        assert!(!s.trust.signaling);
        let problems =
            parse("threads = 1\nmetrics-listen = \"9153\"\n", Path::new("/")).unwrap_err();
        assert_eq!(problems[0].line, Some(2), "{problems:?}");
        assert!(problems[0].message.contains("metrics-listen \"9153\""));
    }

    #[test]
    fn a_root_anchors_xml_file_is_read_by_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let xml = include_str!("../../trust/tests/data/root-anchors.xml");
        std::fs::write(dir.path().join("root-anchors.xml"), xml).unwrap();
        let s = parse("trust-anchor = \"root-anchors.xml\"\n", dir.path()).unwrap();
        let tags: Vec<u16> = s.trust.seed.iter().map(Anchor::tag).collect();
        assert_eq!(tags, [20326, 38696]);
        assert_eq!(s.anchor_notes.len(), 1, "{:?}", s.anchor_notes);
        assert!(s.anchor_notes[0].contains("Kjqmt7v (key 19036) not loaded: expired"));
        let off = parse(
            "rfc5011 = false\ntrust-anchor = \"root-anchors.xml\"\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(off.anchors.key_tags(&Name::root()), [20326, 38696]);
        std::fs::write(dir.path().join("broken.xml"), &xml[..xml.len() / 2]).unwrap();
        let problems = parse("trust-anchor = \"broken.xml\"\n", dir.path()).unwrap_err();
        assert!(
            problems[0].message.contains("not well-formed XML"),
            "{problems:?}"
        );
    }
}
