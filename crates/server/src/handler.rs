//! What happens to one packet, whatever the transport: access control,
//! parsing, the fast path, or a hand-off to resolution.

use core::net::IpAddr;
use std::sync::Arc;

use anchorage_wire::QueryView;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::response::{Ede, EdeCode, error_reply, rejection_reply};

use crate::Resolve;
use crate::acl::{Access, Acl};
use crate::stats::{ServerStats, bump};

/// State every listener shares.
pub(crate) struct Shared<R> {
    pub(crate) acl: Acl,
    pub(crate) resolver: Arc<R>,
    pub(crate) stats: Arc<ServerStats>,
}

/// The outcome of [`Shared::prepare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `out` holds the reply.
    Reply,
    /// Send nothing.
    Drop,
    /// `view` holds a valid, allowed query that needs resolution.
    Resolve,
}

impl<R: Resolve> Shared<R> {
    /// Decides what to do with `packet` from `client`, writing any immediate
    /// reply into `out` and the parsed query into `view`.
    pub(crate) fn prepare(
        &self,
        packet: &[u8],
        client: IpAddr,
        view: &mut QueryView,
        out: &mut Vec<u8>,
    ) -> Step {
        let step = self.admit(packet, client, view, out);
        if step == Step::Resolve && self.resolver.answer_now(view, out) {
            bump(&self.stats.answered_now);
            return Step::Reply;
        }
        step
    }

    /// [`prepare`](Self::prepare) short of asking the resolver: access
    /// control and parsing. `Step::Resolve` means `view` holds a valid,
    /// allowed query for the resolver's fast path, then resolution.
    pub(crate) fn admit(
        &self,
        packet: &[u8],
        client: IpAddr,
        view: &mut QueryView,
        out: &mut Vec<u8>,
    ) -> Step {
        let access = self.acl.check(client);
        if access == Access::Drop {
            bump(&self.stats.dropped);
            return Step::Drop;
        }
        if let Err(error) = view.parse_into(packet) {
            // Refused clients get nothing for a malformed packet: no help
            // probing us.
            if access == Access::Allow && rejection_reply(packet, &error, out) {
                bump(&self.stats.rejected);
                return Step::Reply;
            }
            bump(&self.stats.dropped);
            return Step::Drop;
        }
        if access == Access::Refuse {
            bump(&self.stats.refused);
            let ede = Ede {
                code: EdeCode::Prohibited,
                text: "",
            };
            error_reply(view, ResponseCode::Refused, Some(ede), out);
            return Step::Reply;
        }
        Step::Resolve
    }
}
