//! The configuration file (TOML) and the command-line flags that override it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anchorage_cache::{CacheLimits, parse_size};
use anchorage_iterator::RootHints;
use anchorage_iterator::config::{Config as IteratorConfig, QnameMinimisation};
use anchorage_server::{Access, Acl, ServerConfig};
use anchorage_validator::TrustAnchors;
use serde::Deserialize;
use toml::Spanned;

/// Default listen addresses: loopback only, so a fresh install is not an
/// open resolver.
pub const DEFAULT_LISTEN: [&str; 2] = ["127.0.0.1:53", "[::1]:53"];

/// The file's contents, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct File {
    /// Addresses to serve on.
    pub listen: Option<Vec<Spanned<String>>>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
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
    /// Access control.
    pub access: Option<AccessFile>,
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
    /// DNSSEC trust anchors.
    pub anchors: TrustAnchors,
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

    let anchors = trust_anchors(file, base, &mut problems);

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
            acl,
            ..ServerConfig::default()
        },
        threads,
        iterator,
        cache,
        prefetch: file.prefetch.unwrap_or(false),
        log,
        anchors,
    })
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
fn trust_anchors(file: &File, base: &Path, problems: &mut Vec<Problem>) -> TrustAnchors {
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
    TrustAnchors::from_zone_text(&text).unwrap_or_else(|e| {
        problems.push(Problem {
            line: None,
            message: format!("trust anchor: {e}"),
        });
        TrustAnchors::empty()
    })
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
        let root = anchorage_wire::proto::rr::Name::root();
        assert!(s.anchors.closest(&root).is_some(), "built-in root anchors");
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
}
