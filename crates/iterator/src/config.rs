//! Operator switches and limits of the iterator, with their defaults.
//!
//! Protocol facts are `MAX_*`; tunables are `DEFAULT_*` and reach the code
//! through [`Limits`] inside [`Config`], never through a global.

use std::time::Duration;

use crate::hints::RootHints;

/// EDNS UDP payload we advertise upstream (DNS Flag Day 2020; RFC 9715 §3).
pub const DEFAULT_EDNS_PAYLOAD: u16 = anchorage_wire::response::DEFAULT_UDP_PAYLOAD;
/// The DNS port (RFC 1035 §4.2).
pub const DNS_PORT: u16 = 53;
/// Upstream queries one client question may cause, sub-queries for NS
/// addresses included (NXNSAttack, CVE-2020-8616; Unbound's
/// `MAX_SENT_COUNT` is 32, the issue asks for 64).
pub const DEFAULT_MAX_QUERIES: u32 = 64;
/// NS names whose addresses one referral may send us to resolve
/// (NXNSAttack, CVE-2020-8616: the amplification is per referral). A
/// name's A and AAAA lookups count as one name here; their queries count
/// one each against [`DEFAULT_MAX_QUERIES`].
pub const DEFAULT_MAX_NS_FETCHES_PER_REFERRAL: u8 = 4;
/// Referrals followed for one name (RFC 1034 §5.3.3 gives no bound; a name
/// has at most 127 labels, so deeper is a referral loop).
pub const DEFAULT_MAX_DELEGATION_DEPTH: u8 = 32;
/// Nested lookups of NS addresses (resolving an NS name that itself needs
/// an NS name resolved...); Unbound bounds this nesting too.
pub const DEFAULT_MAX_DEPENDENCY_DEPTH: u8 = 4;
/// Total time one client question may take.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// CNAME and DNAME hops followed for one question (RFC 1034 §3.6.2 asks
/// for a bound; 16 like BIND and the issue).
pub const DEFAULT_MAX_CNAME_HOPS: u8 = 16;
/// Extra queries QNAME minimisation may add per name before it sends the
/// full name (RFC 9156 §2.3, `MAX_MINIMISE_COUNT`).
pub const MAX_MINIMISE_COUNT: u8 = 10;
/// Minimised queries that add one label each before the rest are spread
/// over the remaining budget (RFC 9156 §2.3, `MINIMISE_ONE_LAB`).
pub const MINIMISE_ONE_LAB: u8 = 4;
/// Timeout of the first query to a server we know nothing about; Unbound
/// uses 376 ms (`UNKNOWN_SERVER_NICENESS`).
pub const DEFAULT_INITIAL_TIMEOUT: Duration = Duration::from_millis(376);
/// Shortest timeout for a known fast server, so jitter is not a timeout.
pub const DEFAULT_MIN_TIMEOUT: Duration = Duration::from_millis(50);
/// Longest timeout of one upstream query, backoff included (RFC 1536 §1
/// on exponential backoff; bounded so a question keeps moving).
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(3);
/// Consecutive timeouts after which a server is held down.
pub const DEFAULT_TIMEOUTS_BEFORE_HOLDDOWN: u32 = 2;
/// First hold-down of a failing server or zone (RFC 9520 §3.2: at least
/// one second).
pub const DEFAULT_HOLDDOWN_MIN: Duration = Duration::from_secs(1);
/// Longest hold-down (RFC 9520 §3.2: five minutes at most by default).
pub const DEFAULT_HOLDDOWN_MAX: Duration = Duration::from_mins(5);
/// One query in this many goes to a server other than the fastest, so a
/// server that got faster is noticed (Unbound probes within its RTT band).
pub const DEFAULT_EXPLORE_ONE_IN: u32 = 20;
/// Case mismatches from one server before we stop randomising case for
/// it (draft-vixie-dnsext-dns0x20 §4; one could be a forgery).
pub const DEFAULT_CASE_MISMATCHES_BEFORE_FALLBACK: u32 = 2;
/// Upstream queries outstanding at once from one transport.
pub const DEFAULT_MAX_OUTSTANDING: usize = 256;
/// Zone cuts kept in the delegation store.
pub const DEFAULT_MAX_DELEGATIONS: usize = 100_000;
/// Servers tracked in the server store.
pub const DEFAULT_MAX_SERVERS: usize = 100_000;

/// QNAME minimisation mode (RFC 9156).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnameMinimisation {
    /// Full names to every server.
    Off,
    /// Minimise; on NXDOMAIN or an error for a minimised name, retry with
    /// the full name (RFC 9156 §2.3, for broken servers).
    Relaxed,
    /// Minimise; NXDOMAIN for an ancestor ends the walk (RFC 8020).
    Strict,
}

/// When the root is primed (RFC 8109 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priming {
    /// On the first question.
    Lazy,
    /// When the recursor starts.
    AtStart,
}

/// The numeric bounds of one walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upstream queries per client question.
    pub max_queries: u32,
    /// NS names resolved per referral.
    pub max_ns_fetches_per_referral: u8,
    /// Referrals followed per name.
    pub max_delegation_depth: u8,
    /// Nested NS-address lookups.
    pub max_dependency_depth: u8,
    /// CNAME/DNAME hops.
    pub max_cname_hops: u8,
    /// Total time per client question.
    pub deadline: Duration,
    /// Timeout of a first query to an unknown server.
    pub initial_timeout: Duration,
    /// Shortest query timeout.
    pub min_timeout: Duration,
    /// Longest query timeout.
    pub max_timeout: Duration,
    /// Consecutive timeouts before a hold-down.
    pub timeouts_before_holddown: u32,
    /// First hold-down.
    pub holddown_min: Duration,
    /// Longest hold-down.
    pub holddown_max: Duration,
    /// One query in this many explores a slower server.
    pub explore_one_in: u32,
    /// Case mismatches before 0x20 is turned off for a server.
    pub case_mismatches_before_fallback: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_queries: DEFAULT_MAX_QUERIES,
            max_ns_fetches_per_referral: DEFAULT_MAX_NS_FETCHES_PER_REFERRAL,
            max_delegation_depth: DEFAULT_MAX_DELEGATION_DEPTH,
            max_dependency_depth: DEFAULT_MAX_DEPENDENCY_DEPTH,
            max_cname_hops: DEFAULT_MAX_CNAME_HOPS,
            deadline: DEFAULT_DEADLINE,
            initial_timeout: DEFAULT_INITIAL_TIMEOUT,
            min_timeout: DEFAULT_MIN_TIMEOUT,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            timeouts_before_holddown: DEFAULT_TIMEOUTS_BEFORE_HOLDDOWN,
            holddown_min: DEFAULT_HOLDDOWN_MIN,
            holddown_max: DEFAULT_HOLDDOWN_MAX,
            explore_one_in: DEFAULT_EXPLORE_ONE_IN,
            case_mismatches_before_fallback: DEFAULT_CASE_MISMATCHES_BEFORE_FALLBACK,
        }
    }
}

/// Everything an operator can set on the iterator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root hints; the IANA root servers unless a hints file says otherwise.
    pub hints: RootHints,
    /// Numeric bounds.
    pub limits: Limits,
    /// QNAME minimisation mode.
    pub qname_minimisation: QnameMinimisation,
    /// Whether upstream servers on loopback and private ranges may be
    /// queried; off in production, on for the testbed (127/8).
    pub allow_loopback_upstreams: bool,
    /// Whether IPv6 server addresses are used and the AAAA of NS names
    /// without glue looked up (beside their A).
    pub ipv6_upstream: bool,
    /// Whether case is randomised in upstream names (0x20).
    pub randomize_case: bool,
    /// When the root is primed.
    pub priming: Priming,
    /// EDNS UDP payload advertised upstream.
    pub edns_payload: u16,
    /// Port of every upstream server.
    pub upstream_port: u16,
    /// Upstream queries outstanding at once.
    pub max_outstanding: usize,
    /// Zone cuts kept.
    pub max_delegations: usize,
    /// Servers tracked.
    pub max_servers: usize,
    /// Bounds of the RRset store: its bytes are `record_bytes`, the share
    /// of each record cache.
    pub rrset_cache: anchorage_cache::CacheLimits,
}

impl Config {
    /// A configuration for servers that all live on loopback (the
    /// testbed): these hints and port, loopback upstreams allowed, no IPv6
    /// upstreams; every other setting the default.
    pub fn loopback(hints: RootHints, port: u16) -> Self {
        Self {
            hints,
            allow_loopback_upstreams: true,
            ipv6_upstream: false,
            upstream_port: port,
            ..Self::default()
        }
    }

    /// [`loopback`](Self::loopback) with a deadline (8 s) and first
    /// timeout (300 ms) short enough for tests.
    pub fn loopback_lab(hints: RootHints, port: u16) -> Self {
        Self {
            limits: Limits {
                deadline: Duration::from_secs(8),
                initial_timeout: Duration::from_millis(300),
                ..Limits::default()
            },
            ..Self::loopback(hints, port)
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hints: RootHints::iana(),
            limits: Limits::default(),
            qname_minimisation: QnameMinimisation::Relaxed,
            allow_loopback_upstreams: false,
            ipv6_upstream: true,
            randomize_case: true,
            priming: Priming::Lazy,
            edns_payload: DEFAULT_EDNS_PAYLOAD,
            upstream_port: DNS_PORT,
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
            max_delegations: DEFAULT_MAX_DELEGATIONS,
            max_servers: DEFAULT_MAX_SERVERS,
            rrset_cache: anchorage_cache::CacheLimits::default(),
        }
    }
}
