//! RFC 5011 in the running binary: the resolver follows a root KSK roll of
//! the loopback testbed with shortened timers and keeps answering with AD;
//! with RFC 5011 off the same roll ends in SERVFAIL; a restart inside the
//! hold-down resumes it; start-up refuses bad state with one sentence; and
//! the `trust list` and `trust simulate` commands print what they should.
//!
//! Every wait is bounded and waits on an event (a log line, a reply, an
//! exit), never on a fixed sleep.

mod lab;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anchorage_testbed::{RolloverStep, Testbed};
use anchorage_trust::simulate::{RollStep, SigningRoot, SimulatedRoot};
use anchorage_trust::state::{decode, encode};
use anchorage_trust::utc::parse_utc;
use anchorage_trust::{KeyState, Timers, TrackedKey, Tracker, anchors_from_text};
use anchorage_wire::proto::op::{Message, ResponseCode};
use anchorage_wire::proto::rr::rdata::opt::EdnsCode;
use anchorage_wire::proto::rr::{Name, RecordType};

use lab::{
    DEAD_HINTS, Hierarchy, LIFETIME, Resolver, anchor_tag, run, spawn_with_hints, start,
    start_testbed_with, validity,
};

/// Each test's testbed block (127.18x.0.0/16, distinct from e2e.rs's
/// 127.170) and resolver port, so the tests run in parallel.
const ROLL: (u8, u16, &str) = (181, 5481, "127.0.0.1:15381");
const STATIC: (u8, u16, &str) = (182, 5482, "127.0.0.1:15382");
const RESTART: (u8, u16, &str) = (183, 5483, "127.0.0.1:15383");
/// Upstream port for start-up tests with no testbed: nothing listens there.
const NO_UPSTREAM_PORT: u16 = 5489;
/// Where the start-up tests that run listen (one port each).
const LOST_STATE_LISTEN: &str = "127.0.0.1:15384";
const IN_MEMORY_LISTEN: &str = "127.0.0.1:15385";
/// Add hold-down of the lab timers (whole seconds: the state file keeps seconds).
const ADD_HOLD_DOWN: Duration = Duration::from_secs(3);
/// Add hold-down of the restart test: long enough to restart inside it.
const RESTART_HOLD_DOWN: Duration = Duration::from_secs(8);
/// Remove hold-down of the lab timers.
const REMOVE_HOLD_DOWN: Duration = Duration::from_secs(2);

/// Timer flags for a lab: probes every half second, short hold-downs.
fn trust_timers(add_hold_down: Duration) -> Vec<String> {
    let mut args = vec![
        "--add-hold-down".to_owned(),
        format!("{}s", add_hold_down.as_secs()),
        "--remove-hold-down".to_owned(),
        format!("{}s", REMOVE_HOLD_DOWN.as_secs()),
    ];
    args.extend(lab::lab_timers());
    args
}

fn start_testbed(net: u8, port: u16) -> Testbed {
    let hierarchy = Hierarchy {
        seed: 5011,
        ..Hierarchy::default()
    };
    start_testbed_with(net, port, hierarchy)
}

/// What only these tests wait for.
impl Resolver {
    /// Waits for `tag` to make `transition` (e.g. "AddPend -> Valid"),
    /// looking from `from` on.
    fn wait_transition(&mut self, from: usize, tag: u16, transition: &str) {
        let key = format!("transition=key {tag} ");
        self.wait_since(from, &format!("{tag}: {transition}"), |l| {
            l.contains(&key) && l.contains(transition)
        });
    }

    /// Waits for the end of the probe that logged the last line seen: the
    /// state file holds its outcome once its summary line is out.
    fn wait_saved(&mut self) {
        let from = self.mark();
        self.wait_since(from, "the probe's summary", |l| {
            l.contains("root DNSKEY probe: ")
        });
    }
}

/// The tag of the key that logged `transition` in `line`.
fn tag_in(line: &str) -> u16 {
    let rest = &line[line.find("transition=key ").expect("a transition line") + 15..];
    rest[..rest.find(' ').unwrap()].parse().unwrap()
}

/// Secure names of the testbed, each asked once: the answer cache never
/// answers for a name asked before.
struct SecureNames(Vec<(String, RecordType)>);

impl SecureNames {
    fn of(testbed: &Testbed) -> Self {
        let mut names: Vec<(String, RecordType)> = testbed
            .manifest()
            .of("secure")
            .map(|e| (e.name.clone(), e.qtype.parse().unwrap()))
            .collect();
        names.reverse();
        assert!(names.len() >= 6, "testbed has {} secure names", names.len());
        Self(names)
    }

    /// Asks a fresh secure name; the reply.
    fn ask(&mut self, resolver: &Resolver) -> (String, Message) {
        let (name, rtype) = self.0.pop().expect("fresh secure names left");
        let reply = resolver.ask(7, &name, rtype);
        (name, reply)
    }
}

fn assert_secure(resolver: &Resolver, names: &mut SecureNames, when: &str) {
    let (name, reply) = names.ask(resolver);
    assert_eq!(reply.response_code, ResponseCode::NoError, "{when}: {name}");
    assert!(reply.authentic_data, "{when}: {name} should have AD");
}

/// The resolver's state file, decoded.
fn state(dir: &Path) -> Tracker {
    let text = std::fs::read_to_string(dir.join("root.state")).unwrap();
    decode(&text, Timers::default()).unwrap()
}

fn key(tracker: &Tracker, tag: u16) -> TrackedKey {
    tracker
        .keys()
        .iter()
        .find(|k| k.tag() == tag)
        .unwrap_or_else(|| panic!("key {tag} in the state"))
        .clone()
}

fn trust_list(dir: &Path) -> Output {
    run([
        "trust".as_ref(),
        "list".as_ref(),
        "--state-dir".as_ref(),
        dir.as_os_str(),
    ])
}

fn listed(dir: &Path) -> String {
    let out = trust_list(dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The listing row of `tag`.
fn row(listing: &str, tag: u16) -> String {
    listing
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&tag.to_string()))
        .unwrap_or_else(|| panic!("no row for {tag}:\n{listing}"))
        .to_owned()
}

fn roll(testbed: &Testbed, step: RolloverStep) {
    testbed.roll_root(step, validity(LIFETIME)).unwrap();
}

#[test]
fn the_resolver_follows_a_root_ksk_roll_and_answers_stay_secure() {
    let (net, port, listen) = ROLL;
    let testbed = start_testbed(net, port);
    let dir = tempfile::tempdir().unwrap();
    let old = anchor_tag(&testbed);
    let mut resolver = start(&testbed, dir.path(), listen, &trust_timers(ADD_HOLD_DOWN));
    let mut names = SecureNames::of(&testbed);
    resolver.wait_for("first probe", |l| {
        l.contains("root DNSKEY probe: valid update")
    });
    assert_secure(&resolver, &mut names, "before the roll");

    // Publish: the new key is pending, and only the old one is trusted.
    let from = resolver.mark();
    roll(&testbed, RolloverStep::PublishNew);
    let line = resolver.wait_since(from, "AddPend", |l| l.contains("Start -> AddPend"));
    let new = tag_in(&line);
    assert_ne!(new, old);
    resolver.wait_saved();
    let listing = listed(dir.path());
    assert!(row(&listing, old).starts_with("Valid "), "{listing}");
    let pending = row(&listing, new);
    assert!(pending.starts_with("AddPend "), "{listing}");
    assert!(pending.contains("Valid at "), "{listing}");

    // Hold-down over, seen twice: Valid, and the validator is told.
    let from = resolver.mark();
    resolver.wait_transition(from, new, "AddPend -> Valid");
    resolver.wait_since(from, "anchors replaced", |l| {
        l.contains("validator trust anchors replaced")
    });
    resolver.wait_saved();
    let promoted = key(&state(dir.path()), new);
    assert_eq!(promoted.state, KeyState::Valid);
    let held = promoted
        .last_change
        .duration_since(promoted.first_seen.unwrap())
        .unwrap();
    // The state file keeps whole seconds.
    assert!(
        held + Duration::from_secs(1) >= ADD_HOLD_DOWN,
        "held {held:?}"
    );

    // The roll: the root signs with the new key only; answers stay secure.
    roll(&testbed, RolloverStep::DoubleSign);
    roll(&testbed, RolloverStep::StopOld);
    let from = resolver.mark();
    let signer = format!("signer={new} ");
    resolver.wait_since(from, "a probe signed by the new key", |l| {
        l.contains("root DNSKEY probe: valid update") && l.contains(&signer)
    });
    assert_secure(&resolver, &mut names, "after the roll");

    // Revoked: the old key leaves the validator's anchors, whose key cache
    // is cleared, so the next answer is validated from the new key alone.
    let from = resolver.mark();
    roll(&testbed, RolloverStep::RevokeOld);
    resolver.wait_transition(from, old, "Valid -> Revoked");
    resolver.wait_since(from, "anchors replaced", |l| {
        l.contains("validator trust anchors replaced") && l.contains(&format!("trusted=[{new}]"))
    });
    assert_secure(&resolver, &mut names, "after the revocation");

    // Removed after the remove hold-down.
    let from = resolver.mark();
    roll(&testbed, RolloverStep::RemoveOld);
    resolver.wait_transition(from, old, "Revoked -> Removed");
    resolver.wait_saved();
    assert_secure(&resolver, &mut names, "after the removal");
    let listing = listed(dir.path());
    assert!(row(&listing, old).starts_with("Removed "), "{listing}");
    assert!(row(&listing, new).starts_with("Valid "), "{listing}");

    resolver.stop();
    testbed.stop();
}

#[test]
fn with_rfc5011_off_and_the_old_anchor_the_roll_gives_servfail() {
    let (net, port, listen) = STATIC;
    let testbed = start_testbed(net, port);
    let dir = tempfile::tempdir().unwrap();
    let args = ["--rfc5011".to_owned(), "false".to_owned()];
    let mut names = SecureNames::of(&testbed);
    let mut resolver = start(&testbed, dir.path(), listen, &args);
    resolver.wait_for("static anchors", |l| l.contains("RFC 5011 off"));
    assert_secure(&resolver, &mut names, "before the roll");
    resolver.stop();
    assert!(
        !dir.path().join("root.state").exists(),
        "no state with RFC 5011 off"
    );

    roll(&testbed, RolloverStep::PublishNew);
    roll(&testbed, RolloverStep::DoubleSign);
    roll(&testbed, RolloverStep::StopOld);
    // Started afresh: the root keys it had validated before the roll would
    // otherwise stay in its key cache for up to their TTL.
    let resolver = start(&testbed, dir.path(), listen, &args);
    let (name, reply) = names.ask(&resolver);
    assert_eq!(reply.response_code, ResponseCode::ServFail, "{name}");
    assert!(!reply.authentic_data);
    let ede = reply
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::from(15)));
    assert!(ede.is_some(), "SERVFAIL carries an EDE");
    testbed.stop();
}

#[test]
fn a_restart_in_the_middle_of_the_hold_down_resumes_it() {
    let (net, port, listen) = RESTART;
    let testbed = start_testbed(net, port);
    let dir = tempfile::tempdir().unwrap();
    let args = trust_timers(RESTART_HOLD_DOWN);
    let mut resolver = start(&testbed, dir.path(), listen, &args);
    roll(&testbed, RolloverStep::PublishNew);
    let line = resolver.wait_for("AddPend", |l| l.contains("Start -> AddPend"));
    let new = tag_in(&line);
    resolver.wait_saved();
    resolver.stop();
    let before = key(&state(dir.path()), new);
    assert_eq!(before.state, KeyState::AddPend);

    let mut resolver = start(&testbed, dir.path(), listen, &args);
    resolver.wait_for("resumed", |l| l.contains("RFC 5011 state resumed"));
    let after = key(&state(dir.path()), new);
    assert_eq!(
        after.state,
        KeyState::AddPend,
        "still pending after the restart"
    );
    assert_eq!(after.first_seen, before.first_seen, "first sighting kept");
    assert_eq!(after.add_due, before.add_due, "hold-down not restarted");
    resolver.wait_transition(0, new, "AddPend -> Valid");
    resolver.wait_saved();
    let valid = key(&state(dir.path()), new);
    assert_eq!(valid.state, KeyState::Valid);
    assert!(
        valid.last_change >= before.add_due.unwrap(),
        "not before the hold-down ended"
    );
    resolver.stop();
    testbed.stop();
}

/// A start without a testbed, on `listen`, with dead hints.
fn spawn_without_testbed(dir: &Path, listen: &str, args: &[String]) -> Resolver {
    spawn_with_hints(dir, DEAD_HINTS, NO_UPSTREAM_PORT, listen, args)
}

#[test]
fn a_corrupt_state_file_stops_the_start_with_its_reason_and_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.state");
    std::fs::write(&path, "version = 9\n").unwrap();
    let state_dir = ["--state-dir".to_owned(), dir.path().display().to_string()];
    let stderr = spawn_without_testbed(dir.path(), IN_MEMORY_LISTEN, &state_dir).refused();
    assert!(stderr.contains("refusing trust state"), "{stderr}");
    assert!(
        stderr.contains("format version 9 is not supported"),
        "{stderr}"
    );
    assert!(!path.exists());
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("root.state.corrupt-")
        })
        .expect("the refused file kept aside");
    assert!(
        stderr.contains(&aside.path().display().to_string()),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(aside.path()).unwrap(),
        "version = 9\n"
    );
}

#[test]
fn a_missing_state_directory_stops_the_start_unless_memory_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let state_dir = vec!["--state-dir".to_owned(), missing.display().to_string()];
    let stderr = spawn_without_testbed(dir.path(), IN_MEMORY_LISTEN, &state_dir).refused();
    assert!(
        stderr.contains(&format!(
            "trust state directory {} does not exist",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("state-in-memory-on-failure"), "{stderr}");

    let mut in_memory = state_dir;
    in_memory.push("--state-in-memory-on-failure".to_owned());
    let mut resolver = spawn_without_testbed(dir.path(), IN_MEMORY_LISTEN, &in_memory);
    resolver.wait_for("the warning", |l| {
        l.contains("TRUST STATE IS NOT PERSISTED")
    });
    resolver.wait_for("serving", |l| l.contains("serving UDP and TCP"));
    resolver.stop();
    assert!(!missing.exists());
}

#[test]
fn a_lost_state_file_starts_again_from_the_built_in_anchors_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = ["--state-dir".to_owned(), dir.path().display().to_string()];
    let mut resolver = spawn_without_testbed(dir.path(), LOST_STATE_LISTEN, &state_dir);
    resolver.wait_for("the seed layer", |l| {
        l.contains("RFC 5011 seed: the built-in IANA root anchors")
    });
    resolver.wait_for("the lost file", |l| {
        l.contains("no trust state file: starting again from the configured anchors")
    });
    resolver.wait_for("serving", |l| l.contains("serving UDP and TCP"));
    resolver.stop();
    let listing = listed(dir.path());
    assert!(row(&listing, 20326).starts_with("Valid "), "{listing}");
    assert!(row(&listing, 38696).starts_with("Valid "), "{listing}");
}

#[test]
fn trust_list_prints_state_tag_algorithm_first_sighting_and_next_transition() {
    // A tracker that has seen a new key once, from the in-process root.
    let t0 = parse_utc("2027-01-15T08:00:00Z").unwrap();
    let day = Duration::from_hours(24);
    let mut root = SigningRoot::new(9).unwrap();
    let anchors = anchors_from_text(&root.anchor_text(), &Name::root()).unwrap();
    let old = anchors[0].tag();
    let mut tracker = Tracker::new(Name::root(), &anchors, Timers::default(), t0);
    let _ = tracker.observe(&root.fetch(t0).unwrap(), t0);
    root.roll(RollStep::PublishNew, t0 + day).unwrap();
    let _ = tracker.observe(&root.fetch(t0 + day).unwrap(), t0 + day);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.state"), encode(&tracker, t0 + day)).unwrap();
    let new = tracker
        .keys()
        .iter()
        .find(|k| k.state == KeyState::AddPend)
        .unwrap()
        .tag();

    let listing = listed(dir.path());
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines[0].starts_with("trust point . (state file "),
        "{listing}"
    );
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "STATE", "TAG", "ALG", "FIRST", "SEEN", "LAST", "CHANGE", "NEXT"
        ]
    );
    let valid: Vec<String> = row(&listing, old)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        valid[..4],
        ["Valid", &old.to_string(), "15", "2027-01-15T08:00:00Z"]
    );
    assert_eq!(valid[5], "-");
    let pending = row(&listing, new);
    assert_eq!(
        pending.split_whitespace().collect::<Vec<_>>(),
        [
            "AddPend",
            &new.to_string(),
            "15",
            "2027-01-16T08:00:00Z",
            "2027-01-16T08:00:00Z",
            "Valid",
            "at",
            "2027-02-15T08:00:00Z",
            "(seen",
            "1x)"
        ]
    );
    assert!(
        listing.contains(
            "last valid probe: 2027-01-16T08:00:00Z; next probe due: 2027-01-17T08:00:00Z"
        ),
        "{listing}"
    );

    // No state, or damaged state: one sentence and a failure.
    let empty = tempfile::tempdir().unwrap();
    let out = trust_list(empty.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trust state at"));
    std::fs::write(empty.path().join("root.state"), "version = 1\nzone = 3\n").unwrap();
    let out = trust_list(empty.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("anchorage: refusing trust state"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn trust_simulate_prints_a_passing_timeline_of_the_whole_roll() {
    let out = run(["trust", "simulate", "--start", "2026-10-11T00:00:00Z"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let find = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in:\n{text}"))
            .to_owned()
    };
    assert!(find("root publishes a new KSK").starts_with("2026-10-11T00:00:00Z"));
    // The RFC 5011 add hold-down: 30 days.
    assert!(
        find("AddPend -> Valid").starts_with("2026-11-10T00:00:00Z"),
        "{text}"
    );
    find("BOGUS (SERVFAIL) with the old static anchor");
    find("Valid -> Revoked (RevBit)");
    find("Revoked -> Removed (RemTime)");
    assert!(
        text.lines().last().unwrap().starts_with("PASS after "),
        "{text}"
    );

    // Shortened timers reach the same end sooner.
    let out = run([
        "trust",
        "simulate",
        "--start",
        "2026-10-11T00:00:00Z",
        "--add-hold-down",
        "2d",
        "--remove-hold-down",
        "1d",
    ]);
    let short = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{short}");
    assert!(short.contains("add hold-down 2d"), "{short}");
    assert!(
        short.contains("2026-10-13T00:00:00Z  tracker: key"),
        "{short}"
    );

    // A bad flag: one sentence, failure.
    let out = run(["trust", "simulate", "--add-hold-down", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("add-hold-down \"soon\""));
}
