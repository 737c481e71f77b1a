//! What we know about upstream servers: smoothed RTT, timeouts and
//! hold-downs, lameness per zone, EDNS and 0x20 quirks, behind
//! [`ServerStore`] so it can move to the `cache` crate later (the
//! "infra cache" of Unbound).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anchorage_wire::proto::rr::Name;

use crate::config::Limits;

/// How a server must be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerFlags {
    /// It answered FORMERR to EDNS: ask without OPT (RFC 6891 §7).
    pub no_edns: bool,
    /// It does not echo the question's case: do not randomise it.
    pub no_case: bool,
}

/// Where the walk keeps what it learns about servers.
pub trait ServerStore: Send {
    /// Picks the server to ask next for `zone` among `candidates`, or
    /// `None` when every one is held down or lame.
    fn select(
        &mut self,
        zone: &Name,
        candidates: &[SocketAddr],
        now: Instant,
    ) -> Option<SocketAddr>;
    /// How long to wait for `server`'s reply (RTO with backoff).
    fn timeout(&self, server: SocketAddr) -> Duration;
    /// A reply came after `rtt`, at `now`.
    fn record_rtt(&mut self, server: SocketAddr, rtt: Duration, now: Instant);
    /// No reply in time.
    fn record_timeout(&mut self, server: SocketAddr, now: Instant);
    /// The server is lame for `zone`.
    fn record_lame(&mut self, zone: &Name, server: SocketAddr, now: Instant);
    /// The server answered FORMERR to a query with EDNS.
    fn record_no_edns(&mut self, server: SocketAddr);
    /// The server echoed the question in another case.
    fn record_case_mismatch(&mut self, server: SocketAddr);
    /// How to ask the server.
    fn flags(&self, server: SocketAddr) -> ServerFlags;
    /// No server of `zone` gave a usable answer: back the zone off
    /// (RFC 9520 §3.2), longer after each failure in a row.
    fn record_zone_failure(&mut self, zone: &Name, now: Instant);
    /// A server of `zone` gave a usable answer: the backoff is over.
    fn record_zone_success(&mut self, zone: &Name);
    /// Whether `zone` is backed off at `now`: no query goes to it.
    fn zone_backed_off(&self, zone: &Name, now: Instant) -> bool;
}

/// Weight of a new sample in the smoothed RTT, as 1/N (RFC 6298 §2.3).
const SRTT_SHIFT: u32 = 3;
/// Weight of a new sample in the RTT variance, as 1/N (RFC 6298 §2.3).
const RTTVAR_SHIFT: u32 = 2;
/// Largest backoff exponent: 2^6 times the RTO, already past any cap.
const MAX_BACKOFF_SHIFT: u32 = 6;

#[derive(Debug, Clone)]
struct Server {
    srtt_us: u64,
    rttvar_us: u64,
    known: bool,
    consecutive_timeouts: u32,
    held_until: Option<Instant>,
    holddown: Duration,
    case_mismatches: u32,
    flags: ServerFlags,
    last_reply: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Lame {
    until: Instant,
    holddown: Duration,
}

/// In-memory [`ServerStore`].
#[derive(Debug)]
pub struct InfraCache {
    limits: Limits,
    servers: HashMap<SocketAddr, Server>,
    lame: HashMap<(Name, SocketAddr), Lame>,
    /// Zones whose servers all failed (RFC 9520), with the next backoff.
    failed_zones: HashMap<Name, Lame>,
    capacity: usize,
    rng: u64,
}

impl InfraCache {
    /// An empty store; `seed` drives the exploration choices only.
    pub fn new(limits: Limits, capacity: usize, seed: u64) -> Self {
        Self {
            limits,
            servers: HashMap::new(),
            lame: HashMap::new(),
            failed_zones: HashMap::new(),
            capacity: capacity.max(1),
            rng: seed,
        }
    }

    /// The smoothed RTT of a server, if it ever answered.
    pub fn srtt(&self, server: SocketAddr) -> Option<Duration> {
        self.servers
            .get(&server)
            .filter(|s| s.known)
            .map(|s| Duration::from_micros(s.srtt_us))
    }

    /// Whether a server is held down at `now`.
    pub fn is_held_down(&self, server: SocketAddr, now: Instant) -> bool {
        self.servers
            .get(&server)
            .and_then(|s| s.held_until)
            .is_some_and(|t| t > now)
    }

    /// Whether a server is lame for `zone` at `now`.
    pub fn is_lame(&self, zone: &Name, server: SocketAddr, now: Instant) -> bool {
        self.lame
            .get(&(zone.clone(), server))
            .is_some_and(|l| l.until > now)
    }

    fn entry(&mut self, server: SocketAddr) -> &mut Server {
        if self.servers.len() >= self.capacity && !self.servers.contains_key(&server) {
            // Forget an arbitrary server: it is re-learned at the cost of
            // one probe.
            if let Some(key) = self.servers.keys().next().copied() {
                self.servers.remove(&key);
            }
        }
        let initial = self.limits.initial_timeout;
        let holddown = self.limits.holddown_min;
        self.servers.entry(server).or_insert_with(|| Server {
            srtt_us: initial.as_micros() as u64,
            rttvar_us: 0,
            known: false,
            consecutive_timeouts: 0,
            held_until: None,
            holddown,
            case_mismatches: 0,
            flags: ServerFlags::default(),
            last_reply: None,
        })
    }

    /// SplitMix64 step: exploration needs spread, not secrecy.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn srtt_or_initial(&self, server: SocketAddr) -> u64 {
        self.servers
            .get(&server)
            .map_or(self.limits.initial_timeout.as_micros() as u64, |s| {
                s.srtt_us
            })
    }
}

impl ServerStore for InfraCache {
    fn select(
        &mut self,
        zone: &Name,
        candidates: &[SocketAddr],
        now: Instant,
    ) -> Option<SocketAddr> {
        let usable: Vec<SocketAddr> = candidates
            .iter()
            .copied()
            .filter(|&s| !self.is_held_down(s, now) && !self.is_lame(zone, s, now))
            .collect();
        let fastest = usable
            .iter()
            .copied()
            .min_by_key(|&s| self.srtt_or_initial(s))?;
        let explore_one_in = u64::from(self.limits.explore_one_in.max(1));
        if usable.len() > 1 && self.next_random().is_multiple_of(explore_one_in) {
            let pick = (self.next_random() % usable.len() as u64) as usize;
            return usable.get(pick).copied();
        }
        Some(fastest)
    }

    fn timeout(&self, server: SocketAddr) -> Duration {
        let Some(s) = self.servers.get(&server) else {
            return self.limits.initial_timeout;
        };
        // RFC 6298 §2.3: RTO = SRTT + 4 * RTTVAR; doubled per timeout (§5.5).
        let base = if s.known {
            Duration::from_micros(s.srtt_us + 4 * s.rttvar_us).max(self.limits.min_timeout)
        } else {
            self.limits.initial_timeout
        };
        let shift = s.consecutive_timeouts.min(MAX_BACKOFF_SHIFT);
        (base * (1 << shift)).min(self.limits.max_timeout)
    }

    fn record_rtt(&mut self, server: SocketAddr, rtt: Duration, now: Instant) {
        let holddown = self.limits.holddown_min;
        let s = self.entry(server);
        let sample = rtt.as_micros() as u64;
        if s.known {
            let diff = s.srtt_us.abs_diff(sample);
            s.rttvar_us = s.rttvar_us - (s.rttvar_us >> RTTVAR_SHIFT) + (diff >> RTTVAR_SHIFT);
            s.srtt_us = s.srtt_us - (s.srtt_us >> SRTT_SHIFT) + (sample >> SRTT_SHIFT);
        } else {
            // RFC 6298 §2.2: first sample.
            s.srtt_us = sample;
            s.rttvar_us = sample / 2;
            s.known = true;
        }
        s.consecutive_timeouts = 0;
        s.held_until = None;
        s.holddown = holddown;
        s.last_reply = Some(now);
    }

    fn record_timeout(&mut self, server: SocketAddr, now: Instant) {
        let (before, max, alive) = (
            self.limits.timeouts_before_holddown,
            self.limits.holddown_max,
            self.limits.max_timeout,
        );
        let s = self.entry(server);
        s.consecutive_timeouts = s.consecutive_timeouts.saturating_add(1);
        // A server that answered within the longest timeout is loaded,
        // not dead: its queries back off but it is not held down (the
        // timeouts of a burst sent before that reply must not bury it).
        let answered_lately = s
            .last_reply
            .is_some_and(|t| now.saturating_duration_since(t) < alive);
        if s.consecutive_timeouts >= before && !answered_lately {
            // RFC 9520 §3.2: back off, growing, never beyond the maximum.
            s.held_until = Some(now + s.holddown);
            s.holddown = (s.holddown * 2).min(max);
        }
    }

    fn record_lame(&mut self, zone: &Name, server: SocketAddr, now: Instant) {
        let (min, max) = (self.limits.holddown_min, self.limits.holddown_max);
        if self.lame.len() >= self.capacity {
            self.lame.retain(|_, l| l.until > now);
        }
        let entry = self.lame.entry((zone.clone(), server)).or_insert(Lame {
            until: now,
            holddown: min,
        });
        entry.until = now + entry.holddown;
        entry.holddown = (entry.holddown * 2).min(max);
    }

    fn record_no_edns(&mut self, server: SocketAddr) {
        self.entry(server).flags.no_edns = true;
    }

    fn record_case_mismatch(&mut self, server: SocketAddr) {
        let threshold = self.limits.case_mismatches_before_fallback;
        let s = self.entry(server);
        s.case_mismatches = s.case_mismatches.saturating_add(1);
        if s.case_mismatches >= threshold {
            s.flags.no_case = true;
        }
    }

    fn flags(&self, server: SocketAddr) -> ServerFlags {
        self.servers
            .get(&server)
            .map_or_else(ServerFlags::default, |s| s.flags)
    }

    fn record_zone_failure(&mut self, zone: &Name, now: Instant) {
        let (min, max) = (self.limits.holddown_min, self.limits.holddown_max);
        if self.failed_zones.len() >= self.capacity {
            // Entries whose backoff ended long ago carry only the length
            // of the next one: dropping them forgets a little history.
            self.failed_zones.retain(|_, f| f.until + max > now);
            if self.failed_zones.len() >= self.capacity {
                return;
            }
        }
        let entry = self.failed_zones.entry(zone.clone()).or_insert(Lame {
            until: now,
            holddown: min,
        });
        // Walks that shared the failing exchanges report it together:
        // one failure per backoff period.
        if entry.until > now {
            return;
        }
        entry.until = now + entry.holddown;
        entry.holddown = (entry.holddown * 2).min(max);
    }

    fn record_zone_success(&mut self, zone: &Name) {
        if !self.failed_zones.is_empty() {
            self.failed_zones.remove(zone);
        }
    }

    fn zone_backed_off(&self, zone: &Name, now: Instant) -> bool {
        self.failed_zones.get(zone).is_some_and(|f| f.until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn store() -> InfraCache {
        let limits = Limits {
            explore_one_in: u32::MAX,
            ..Limits::default()
        };
        InfraCache::new(limits, 100, 1)
    }

    #[test]
    fn fastest_server_is_preferred_and_unknown_ones_get_probed() {
        let mut s = store();
        let (fast, slow, new) = (
            addr("127.0.0.1:53"),
            addr("127.0.0.2:53"),
            addr("127.0.0.3:53"),
        );
        s.record_rtt(fast, Duration::from_millis(5), Instant::now());
        s.record_rtt(slow, Duration::from_millis(900), Instant::now());
        let zone = Name::root();
        let now = Instant::now();
        assert_eq!(s.select(&zone, &[slow, fast], now), Some(fast));
        // Unknown servers rank at the initial timeout: before a slow one.
        assert_eq!(s.select(&zone, &[slow, new], now), Some(new));
    }

    #[test]
    fn exploration_sometimes_picks_a_slower_server() {
        let limits = Limits {
            explore_one_in: 2,
            ..Limits::default()
        };
        let mut s = InfraCache::new(limits, 100, 7);
        let (fast, slow) = (addr("127.0.0.1:53"), addr("127.0.0.2:53"));
        s.record_rtt(fast, Duration::from_millis(5), Instant::now());
        s.record_rtt(slow, Duration::from_millis(50), Instant::now());
        let now = Instant::now();
        let picks: Vec<_> = (0..64)
            .map(|_| s.select(&Name::root(), &[fast, slow], now))
            .collect();
        assert!(picks.contains(&Some(slow)));
        assert!(picks.contains(&Some(fast)));
    }

    #[test]
    fn timeouts_back_off_then_hold_the_server_down_for_a_growing_time() {
        let mut s = store();
        let a = addr("127.0.0.1:53");
        let now = Instant::now();
        let first = s.timeout(a);
        s.record_timeout(a, now);
        assert_eq!(s.timeout(a), (first * 2).min(DEFAULT_MAX));
        assert!(!s.is_held_down(a, now));
        s.record_timeout(a, now);
        assert!(s.is_held_down(a, now));
        assert!(!s.is_held_down(a, now + Duration::from_millis(1001)));
        assert_eq!(s.select(&Name::root(), &[a], now), None);
        s.record_timeout(a, now);
        assert!(
            s.is_held_down(a, now + Duration::from_millis(1500)),
            "grew to 2 s"
        );
        s.record_rtt(a, Duration::from_millis(3), Instant::now());
        assert!(!s.is_held_down(a, now));
    }

    const DEFAULT_MAX: Duration = crate::config::DEFAULT_MAX_TIMEOUT;

    #[test]
    fn lame_server_is_skipped_for_that_zone_only() {
        let mut s = store();
        let (a, b) = (addr("127.0.0.1:53"), addr("127.0.0.2:53"));
        let zone = Name::from_ascii("a.test.").unwrap();
        let now = Instant::now();
        s.record_lame(&zone, a, now);
        assert_eq!(s.select(&zone, &[a, b], now), Some(b));
        assert_eq!(s.select(&zone, &[a], now), None);
        assert_eq!(s.select(&Name::root(), &[a], now), Some(a));
        assert_eq!(s.select(&zone, &[a], now + Duration::from_secs(2)), Some(a));
    }

    #[test]
    fn rtt_smoothing_follows_rfc_6298() {
        let mut s = store();
        let a = addr("127.0.0.1:53");
        s.record_rtt(a, Duration::from_millis(100), Instant::now());
        assert_eq!(s.srtt(a), Some(Duration::from_millis(100)));
        s.record_rtt(a, Duration::from_millis(20), Instant::now());
        assert_eq!(s.srtt(a), Some(Duration::from_millis(90)));
    }

    #[test]
    fn a_failed_zone_is_backed_off_longer_each_time_until_it_answers() {
        let mut s = store();
        let zone = Name::from_ascii("dead.test.").unwrap();
        let now = Instant::now();
        assert!(!s.zone_backed_off(&zone, now));
        s.record_zone_failure(&zone, now);
        // A second report within the backoff is the same failure.
        s.record_zone_failure(&zone, now + Duration::from_millis(10));
        assert!(s.zone_backed_off(&zone, now + Duration::from_millis(999)));
        assert!(!s.zone_backed_off(&zone, now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        s.record_zone_failure(&zone, later);
        assert!(s.zone_backed_off(&zone, later + Duration::from_millis(1999)));
        assert!(!s.zone_backed_off(&zone, later + Duration::from_secs(2)));
        let mut at = later + Duration::from_secs(2);
        for _ in 0..20 {
            s.record_zone_failure(&zone, at);
            at += DEFAULT_HOLDDOWN_MAX;
        }
        assert!(
            !s.zone_backed_off(&zone, at),
            "capped at the longest hold-down"
        );
        s.record_zone_success(&zone);
        s.record_zone_failure(&zone, at);
        assert!(
            !s.zone_backed_off(&zone, at + Duration::from_secs(1)),
            "reset"
        );
        assert!(!s.zone_backed_off(&Name::root(), now));
    }

    const DEFAULT_HOLDDOWN_MAX: Duration = crate::config::DEFAULT_HOLDDOWN_MAX;

    #[test]
    fn quirks_are_remembered() {
        let mut s = store();
        let a = addr("127.0.0.1:53");
        s.record_no_edns(a);
        s.record_case_mismatch(a);
        assert!(s.flags(a).no_edns);
        assert!(!s.flags(a).no_case, "one mismatch may be a forgery");
        s.record_case_mismatch(a);
        assert!(s.flags(a).no_case);
    }
}
