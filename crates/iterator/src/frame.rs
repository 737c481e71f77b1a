//! One name being resolved inside a walk: the client's question, or one
//! address type (A or AAAA) of an NS name the walk needs. Holds what the
//! frame waits for, the zone cut reached, the servers tried there, the
//! QNAME minimisation state and the chain.

use std::net::{IpAddr, SocketAddr};

use anchorage_wire::proto::rr::{Name, Record, RecordType};

use crate::config::{MAX_MINIMISE_COUNT, MINIMISE_ONE_LAB, QnameMinimisation};
use crate::delegation::Cut;
use crate::error::ResolveError;
use crate::walk::Outgoing;

/// Why a frame exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The client's question.
    Client,
    /// Addresses (of the frame's type) of an NS name some frame needs.
    NsAddress {
        /// The NS name.
        ns: Name,
    },
}

/// A query of the walk in flight, and the zone it was sent to.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) out: Outgoing,
    pub(crate) zone: Name,
}

/// What a frame waits for.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// Nothing: it can take its next step.
    Ready,
    /// The outcome of its own query.
    Asking(InFlight),
    /// The outcome of an identical query another frame of the walk sent.
    Sharing(InFlight),
    /// A usable address of this NS name of its cut, from the lookups of
    /// the name (A and AAAA, in frames of their own).
    AwaitingNs(Name),
}

/// A name being resolved.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// Unique within the walk.
    pub(crate) id: u32,
    pub(crate) purpose: Purpose,
    pub(crate) state: State,
    /// 1 for the client's frame, one more for each NS lookup it nests.
    pub(crate) level: u8,
    /// Its last query was taken back unsent (the shell waited on another
    /// query for the name): the next one is sent without waiting.
    pub(crate) withdrawn: bool,
    /// The name asked now (the client's, or a CNAME/DNAME target).
    pub(crate) qname: Name,
    pub(crate) qtype: RecordType,
    /// The zone cut reached; `None` to look it up afresh.
    pub(crate) cut: Option<Cut>,
    /// Servers asked at this cut.
    pub(crate) tried: Vec<SocketAddr>,
    /// NS names looked up at this cut.
    pub(crate) ns_fetches: u8,
    /// NS names of this cut that gave no usable address.
    pub(crate) ns_failed: Vec<Name>,
    /// Referrals followed.
    pub(crate) depth: u8,
    /// Labels of the minimised name asked at this cut; `None` before the
    /// first query at the cut.
    pub(crate) min_labels: Option<u8>,
    /// Minimised queries sent for this name.
    pub(crate) minimise_sent: u8,
    /// Minimisation given up for this name (relaxed mode).
    pub(crate) minimise_off: bool,
    /// CNAME/DNAME records followed, with RRSIGs.
    pub(crate) links: Vec<Record>,
    /// NSEC/NSEC3 and RRSIGs of the replies that gave `links`, for the
    /// wildcard proofs of expanded links.
    pub(crate) link_proofs: Vec<Record>,
    /// Names reached, the first included, for loop detection.
    pub(crate) seen: Vec<Name>,
}

impl Frame {
    /// A ready frame `id` for `qname`/`qtype` at nesting `level`.
    pub(crate) fn new(
        id: u32,
        purpose: Purpose,
        qname: Name,
        qtype: RecordType,
        level: u8,
    ) -> Self {
        Self {
            id,
            purpose,
            state: State::Ready,
            level,
            withdrawn: false,
            seen: vec![qname.clone()],
            qname,
            qtype,
            cut: None,
            tried: Vec::new(),
            ns_fetches: 0,
            ns_failed: Vec::new(),
            depth: 0,
            min_labels: None,
            minimise_sent: 0,
            minimise_off: false,
            links: Vec::new(),
            link_proofs: Vec::new(),
        }
    }

    /// Moves to a new cut: nothing tried there yet.
    pub(crate) fn enter_cut(&mut self, cut: Cut) {
        self.cut = Some(cut);
        self.tried.clear();
        self.ns_fetches = 0;
        self.ns_failed.clear();
        self.min_labels = None;
    }

    /// Adds `addrs` to NS `ns` of the frame's cut, if the cut has it.
    pub(crate) fn add_addresses(&mut self, ns: &Name, addrs: &[IpAddr]) {
        let Some(server) = self
            .cut
            .as_mut()
            .and_then(|c| c.servers.iter_mut().find(|s| s.name == *ns))
        else {
            return;
        };
        for addr in addrs {
            if !server.addrs.contains(addr) {
                server.addrs.push(*addr);
            }
        }
    }

    /// Notes `name` reached by a CNAME/DNAME link: a name seen before is a
    /// loop, more than `max_hops` names a chain too long.
    pub(crate) fn reach(&mut self, name: &Name, max_hops: u8) -> Result<(), ResolveError> {
        if self.seen.contains(name) {
            return Err(ResolveError::ChainLoop {
                name: name.to_string(),
            });
        }
        self.seen.push(name.clone());
        if self.seen.len() > usize::from(max_hops) {
            return Err(ResolveError::ChainTooLong {
                limit: max_hops,
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Restarts at a CNAME/DNAME target.
    pub(crate) fn restart_at(&mut self, target: Name) {
        self.qname = target;
        self.cut = None;
        self.minimise_sent = 0;
        self.minimise_off = false;
        self.min_labels = None;
        self.tried.clear();
    }

    /// The name and type to send to the current cut (RFC 9156 §3).
    pub(crate) fn asked(&mut self, mode: QnameMinimisation) -> (Name, RecordType) {
        let full = (self.qname.clone(), self.qtype);
        let Some(cut) = &self.cut else { return full };
        let zone_labels = cut.zone.num_labels();
        let labels = self.qname.num_labels();
        // DS lives in the parent: the full name is the child's apex.
        let minimise = mode != QnameMinimisation::Off
            && !self.minimise_off
            && self.minimise_sent < MAX_MINIMISE_COUNT
            && labels > zone_labels + 1;
        if !minimise {
            return full;
        }
        let asked = *self.min_labels.get_or_insert(zone_labels + 1);
        if asked >= labels {
            return full;
        }
        self.minimise_sent += 1;
        // RFC 9156 §3 recommends A for the hidden labels (some servers
        // mishandle NS queries).
        (self.qname.trim_to(usize::from(asked)), RecordType::A)
    }

    /// The minimised name was no cut: ask a longer one next (RFC 9156
    /// §2.3: one label at a time for the first `MINIMISE_ONE_LAB`
    /// queries, then larger steps so at most `MAX_MINIMISE_COUNT` go out).
    pub(crate) fn extend_minimisation(&mut self) {
        let labels = self.qname.num_labels();
        let current = self.min_labels.unwrap_or(labels);
        let remaining = labels.saturating_sub(current);
        let step = if self.minimise_sent < MINIMISE_ONE_LAB {
            1
        } else {
            let budget = MAX_MINIMISE_COUNT.saturating_sub(self.minimise_sent).max(1);
            remaining.div_ceil(budget).max(1)
        };
        self.min_labels = Some(current.saturating_add(step).min(labels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, zone: &str) -> Frame {
        let mut f = Frame::new(
            0,
            Purpose::Client,
            Name::from_ascii(name).unwrap(),
            RecordType::TXT,
            1,
        );
        f.enter_cut(Cut {
            zone: Name::from_ascii(zone).unwrap(),
            servers: Vec::new(),
        });
        f
    }

    #[test]
    fn minimised_names_grow_one_label_at_a_time() {
        let mut f = frame("a.b.c.example.", ".");
        let (n, t) = f.asked(QnameMinimisation::Relaxed);
        assert_eq!((n.to_string().as_str(), t), ("example.", RecordType::A));
        f.extend_minimisation();
        assert_eq!(
            f.asked(QnameMinimisation::Relaxed).0.to_string(),
            "c.example."
        );
        f.extend_minimisation();
        f.extend_minimisation();
        let (n, t) = f.asked(QnameMinimisation::Relaxed);
        assert_eq!(
            (n.to_string().as_str(), t),
            ("a.b.c.example.", RecordType::TXT)
        );
    }

    #[test]
    fn minimisation_off_or_one_label_below_sends_the_full_name() {
        let mut f = frame("www.example.", "example.");
        assert_eq!(f.asked(QnameMinimisation::Relaxed).1, RecordType::TXT);
        let mut g = frame("a.b.c.example.", ".");
        assert_eq!(g.asked(QnameMinimisation::Off).0.num_labels(), 4);
    }

    #[test]
    fn minimisation_never_sends_more_than_its_budget() {
        let long = (0..40)
            .map(|i| format!("l{i}."))
            .collect::<Vec<_>>()
            .concat();
        let mut f = frame(&long, ".");
        let mut minimised = 0;
        loop {
            let (name, _) = f.asked(QnameMinimisation::Strict);
            if name.num_labels() == 40 {
                break;
            }
            minimised += 1;
            f.extend_minimisation();
        }
        assert!(minimised <= usize::from(MAX_MINIMISE_COUNT), "{minimised}");
    }
}
