//! RFC 5011 timers: hold-downs, active refresh and retry (RFC 5011 §2.3, §2.4).
//!
//! The protocol values are named constants; [`Timers`] carries them to the
//! tracker so tests and labs can shorten every one.

use std::time::Duration;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Add hold-down: a new key waits this long before it is trusted (RFC 5011 §2.4.1).
pub const ADD_HOLD_DOWN: Duration = Duration::from_secs(30 * DAY);
/// Remove hold-down: a revoked key is forgotten this long after it left the set (RFC 5011 §2.4.2).
pub const REMOVE_HOLD_DOWN: Duration = Duration::from_secs(30 * DAY);
/// Shortest active refresh interval (RFC 5011 §2.3: `max(1 hr, ...)`).
pub const MIN_QUERY_INTERVAL: Duration = Duration::from_secs(HOUR);
/// Longest active refresh interval (RFC 5011 §2.3: `min(15 days, ...)`).
pub const MAX_QUERY_INTERVAL: Duration = Duration::from_secs(15 * DAY);
/// Shortest retry after a failed refresh (RFC 5011 §2.3: `max(1 hour, ...)`).
pub const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(HOUR);
/// Longest retry after a failed refresh (RFC 5011 §2.3: `min(1 day, ...)`).
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(DAY);
/// Validated sightings an AddPend key needs before promotion; RFC 5011
/// §2.4.1 implies two (the hold-down spans two refreshes), as Unbound's
/// `MIN_PENDINGCOUNT`.
pub const MIN_PENDING_COUNT: u32 = 2;
/// How long a Missing key stays trusted before it may be removed, if another
/// key is Valid. RFC 5011 leaves it open (§4); Unbound's `keep-missing` default.
pub const DEFAULT_KEEP_MISSING: Duration = Duration::from_secs(366 * DAY);
/// Part of the refresh interval the shell may start early, in tenths: it
/// probes at 90 to 100 % of the interval so resolvers do not synchronise
/// (our rule, as Unbound).
pub const REFRESH_JITTER_TENTHS: u32 = 1;

/// Every duration the tracker uses; [`Timers::default`] is RFC 5011's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Add hold-down (RFC 5011 §2.4.1).
    pub add_hold_down: Duration,
    /// Remove hold-down (RFC 5011 §2.4.2).
    pub remove_hold_down: Duration,
    /// How long a Missing key is kept while another key is Valid.
    pub keep_missing: Duration,
    /// Lower bound of the active refresh interval (RFC 5011 §2.3).
    pub min_query_interval: Duration,
    /// Upper bound of the active refresh interval (RFC 5011 §2.3).
    pub max_query_interval: Duration,
    /// Lower bound of the retry interval (RFC 5011 §2.3).
    pub min_retry_interval: Duration,
    /// Upper bound of the retry interval (RFC 5011 §2.3).
    pub max_retry_interval: Duration,
    /// Sightings needed before an AddPend key is promoted.
    pub min_pending_count: u32,
    /// Whether the original TTL of the set that introduced a key lengthens
    /// its add hold-down (RFC 5011 §2.4.1). Labs that shorten the hold-down
    /// turn it off so the hold-down is exactly `add_hold_down`, as Unbound's
    /// `add-holddown` is.
    pub ttl_extends_add_hold_down: bool,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            add_hold_down: ADD_HOLD_DOWN,
            remove_hold_down: REMOVE_HOLD_DOWN,
            keep_missing: DEFAULT_KEEP_MISSING,
            min_query_interval: MIN_QUERY_INTERVAL,
            max_query_interval: MAX_QUERY_INTERVAL,
            min_retry_interval: MIN_RETRY_INTERVAL,
            max_retry_interval: MAX_RETRY_INTERVAL,
            min_pending_count: MIN_PENDING_COUNT,
            ttl_extends_add_hold_down: true,
        }
    }
}

impl Timers {
    /// The add hold-down for a key first seen in a set of original TTL
    /// `original_ttl`: the larger of the two (RFC 5011 §2.4.1), or the
    /// hold-down alone if the TTL does not extend it.
    pub fn add_hold_down_for(&self, original_ttl: u32) -> Duration {
        if self.ttl_extends_add_hold_down {
            self.add_hold_down
                .max(Duration::from_secs(u64::from(original_ttl)))
        } else {
            self.add_hold_down
        }
    }

    /// Active refresh interval: `max(min, min(max, ttl/2, sig/2))` (RFC 5011 §2.3).
    pub fn query_interval(&self, original_ttl: u32, signature_left: Duration) -> Duration {
        let ttl = Duration::from_secs(u64::from(original_ttl));
        self.max_query_interval
            .min(ttl / 2)
            .min(signature_left / 2)
            .max(self.min_query_interval)
    }

    /// Retry interval after a failure: `max(min, min(max, ttl/10, sig/10))` (RFC 5011 §2.3).
    pub fn retry_interval(&self, original_ttl: u32, signature_left: Duration) -> Duration {
        let ttl = Duration::from_secs(u64::from(original_ttl));
        self.max_retry_interval
            .min(ttl / 10)
            .min(signature_left / 10)
            .max(self.min_retry_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Original TTL of the root DNSKEY RRset.
    const ROOT_TTL: u32 = 172_800;

    #[test]
    fn root_refresh_is_one_day_and_retry_four_hours_forty_eight() {
        let t = Timers::default();
        let three_weeks = Duration::from_secs(21 * DAY);
        assert_eq!(
            t.query_interval(ROOT_TTL, three_weeks),
            Duration::from_hours(24)
        );
        assert_eq!(
            t.retry_interval(ROOT_TTL, three_weeks),
            // 17280 s
            Duration::from_mins(288)
        );
    }

    #[test]
    fn a_signature_about_to_expire_shortens_refresh_but_never_below_an_hour() {
        let t = Timers::default();
        assert_eq!(
            t.query_interval(ROOT_TTL, Duration::from_secs(10 * HOUR)),
            Duration::from_secs(5 * HOUR)
        );
        assert_eq!(
            t.query_interval(ROOT_TTL, Duration::ZERO),
            MIN_QUERY_INTERVAL
        );
        assert_eq!(t.retry_interval(60, Duration::ZERO), MIN_RETRY_INTERVAL);
    }

    #[test]
    fn long_ttls_are_capped_at_fifteen_days_and_one_day() {
        let t = Timers::default();
        let forever = Duration::from_secs(365 * DAY);
        assert_eq!(t.query_interval(u32::MAX, forever), MAX_QUERY_INTERVAL);
        assert_eq!(t.retry_interval(u32::MAX, forever), MAX_RETRY_INTERVAL);
    }

    #[test]
    fn add_hold_down_grows_with_a_longer_original_ttl() {
        let t = Timers::default();
        assert_eq!(t.add_hold_down_for(ROOT_TTL), ADD_HOLD_DOWN);
        assert_eq!(
            t.add_hold_down_for(40 * 86_400),
            Duration::from_secs(40 * DAY)
        );
    }

    #[test]
    fn a_lab_hold_down_can_ignore_the_ttl() {
        let t = Timers {
            add_hold_down: Duration::from_secs(3),
            ttl_extends_add_hold_down: false,
            ..Timers::default()
        };
        assert_eq!(t.add_hold_down_for(ROOT_TTL), Duration::from_secs(3));
    }
}
