//! The pipeline proper: cache first, then the iterator, then the cache again.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anchorage_cache::Timestamp;
use anchorage_cache::answer::{AnswerCache, LOOKUP_BATCH, Lookup, StalePolicy};
use anchorage_cache::limits::CacheLimits;
use anchorage_cache::{AggressiveCache, Denial, VerifyHasher};
use anchorage_iterator::{Answer, Question, Recursor};
use anchorage_validator::{Status, Validator};
use anchorage_wire::QueryView;
use anchorage_wire::proto::dnssec::rdata::DNSSECRData;
use anchorage_wire::proto::op::ResponseCode;
use anchorage_wire::proto::rr::rdata::HINFO;
use anchorage_wire::proto::rr::{RData, Record, RecordType};
use anchorage_wire::response::{Ede, EdeCode, error_reply, set_authentic_data};

use core::future::Future;

use crate::Resolve;
use crate::reply::{build_reply, client_name, reply_message};
use crate::sentinel;

/// The IN class (RFC 1035 §3.2.4); other classes are refused.
const CLASS_IN: u16 = 1;
/// QTYPE ANY (RFC 1035 §3.2.3), answered per RFC 8482.
const QTYPE_ANY: u16 = 255;
/// TTL of the RFC 8482 synthesized HINFO reply (§4.2 leaves it open).
const ANY_REPLY_TTL: u32 = 3600;

/// Settings of the pipeline.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Answer-cache bounds.
    pub cache: CacheLimits,
    /// Refresh popular entries in the background just before they expire.
    pub prefetch: bool,
}

/// Cache + iterator, shared by every listener.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    recursor: Recursor,
    validator: Validator,
    answers: AnswerCache,
    /// Validated NSEC/NSEC3 ranges answering covered names (RFC 8198).
    aggressive: AggressiveCache,
    hasher: VerifyHasher,
    prefetch: bool,
    epoch: Instant,
}

impl Pipeline {
    /// A pipeline resolving with `recursor` and validating with `validator`.
    pub fn new(recursor: Recursor, validator: Validator, config: &PipelineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                hasher: VerifyHasher {
                    max_iterations: validator.limits().nsec3_iterations,
                },
                recursor,
                validator,
                answers: AnswerCache::new(config.cache),
                aggressive: AggressiveCache::new(config.cache),
                prefetch: config.prefetch,
                epoch: Instant::now(),
            }),
        }
    }

    /// The iterator, for its counters.
    pub fn recursor(&self) -> &Recursor {
        &self.inner.recursor
    }

    /// The validator, to swap its anchors.
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// The answer cache, for its counters.
    pub fn answers(&self) -> &AnswerCache {
        &self.inner.answers
    }

    /// The aggressive NSEC/NSEC3 cache (RFC 8198), for its counters.
    pub fn aggressive(&self) -> &AggressiveCache {
        &self.inner.aggressive
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.inner.epoch.elapsed().as_secs())
    }

    /// Resolves `query` upstream, stores the reply, and returns it; on
    /// failure serves a stale answer if one is kept, else SERVFAIL + EDE.
    async fn resolve_upstream(&self, query: &QueryView) -> Vec<u8> {
        let question = Question::new(client_name(query), RecordType::from(query.qtype()));
        let mut out = Vec::new();
        // RFC 8509 sentinel queries always go through validation and are
        // never cached: the answer depends on the trusted keys of the moment.
        let sentinel = sentinel::sentinel_of(query, &question.name);
        if !query.checking_disabled()
            && sentinel.is_none()
            && self.answer_from_ranges(query, &question, &mut out)
        {
            return out;
        }
        match self.inner.recursor.resolve(question).await {
            // CD=1: the data without validation, AD clear (RFC 6840 §5.9);
            // the cache keys CD, so this never serves a CD=0 client.
            Ok(answer) if query.checking_disabled() => {
                build_reply(query, &answer, false, None, None, &mut out);
                let _ = self.inner.answers.insert(&out, self.now());
            }
            Ok(answer) => {
                let verdict = self
                    .inner
                    .validator
                    .validate(&answer, &self.inner.recursor, SystemTime::now())
                    .await;
                let ede = verdict.ede();
                let ede_ref = ede.as_ref().map(|(code, text)| (*code, text.as_str()));
                if let Status::Bogus(_) = verdict.status {
                    let (code, text) = ede_ref.unwrap_or((EdeCode::DnssecBogus, ""));
                    error_reply(
                        query,
                        ResponseCode::ServFail,
                        Some(Ede { code, text }),
                        &mut out,
                    );
                    return out;
                }
                let secure = verdict.status == Status::Secure;
                if secure {
                    self.keep_ranges(&answer, &verdict.denials);
                }
                if let Some(sentinel) = sentinel.filter(|_| secure)
                    && sentinel::fails(sentinel, &self.inner.validator.anchors())
                {
                    error_reply(query, ResponseCode::ServFail, None, &mut out);
                    return out;
                }
                build_reply(query, &answer, secure, verdict.ttl_cap, ede_ref, &mut out);
                if sentinel.is_none() {
                    let _ = self.inner.answers.insert(&out, self.now());
                }
                // Stored with AD so later asking clients get it; this client
                // sees AD only if it asked (RFC 6840 §5.7).
                if secure && !(query.dnssec_ok() || query.authentic_data()) {
                    set_authentic_data(&mut out, false);
                }
            }
            Err(error) => {
                let stale = self.inner.answers.lookup(
                    query,
                    self.now(),
                    StalePolicy::UpstreamFailed,
                    &mut out,
                );
                if stale != Lookup::Stale {
                    let text = error.to_string();
                    let ede = Ede {
                        code: error.ede(),
                        text: &text,
                    };
                    error_reply(query, error.rcode(), Some(ede), &mut out);
                }
            }
        }
        out
    }
}

impl Pipeline {
    /// Answers NXDOMAIN/NODATA from stored secure ranges (RFC 8198), with
    /// AD, without going upstream; false when no range proves it.
    fn answer_from_ranges(
        &self,
        query: &QueryView,
        question: &Question,
        out: &mut Vec<u8>,
    ) -> bool {
        let inner = &self.inner;
        let Some(found) =
            inner
                .aggressive
                .lookup(&question.name, question.qtype, &inner.hasher, self.now())
        else {
            return false;
        };
        let answer = Answer {
            question: question.clone(),
            rcode: match found.denial {
                Denial::NxDomain => ResponseCode::NXDomain,
                Denial::NoData => ResponseCode::NoError,
            },
            answers: Vec::new(),
            authority: found.soa.into_iter().chain(found.proofs).collect(),
            link_proofs: Vec::new(),
            zone: found.zone,
            cuts: Vec::new(),
            queries: 0,
        };
        build_reply(query, &answer, true, None, None, out);
        let _ = inner.answers.insert(out, self.now());
        if !(query.dnssec_ok() || query.authentic_data()) {
            set_authentic_data(out, false);
        }
        true
    }

    /// Stores the denial ranges of a secure answer, and its zone's SOA.
    fn keep_ranges(&self, answer: &Answer, ranges: &[anchorage_validator::ProvenRange]) {
        let now = self.now();
        for range in ranges {
            let _ = self.inner.aggressive.insert(
                &range.zone,
                range.ttl,
                &range.record,
                &range.rrsigs,
                now,
            );
        }
        let Some(soa) = answer
            .authority
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
        else {
            return;
        };
        let sigs: Vec<Record> = answer
            .authority
            .iter()
            .filter(|r| is_rrsig_over(r, RecordType::SOA))
            .cloned()
            .collect();
        let _ = self
            .inner
            .aggressive
            .insert_soa(&soa.name, soa.ttl, soa, &sigs, now);
    }
}

fn is_rrsig_over(record: &Record, covered: RecordType) -> bool {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig.input().type_covered == covered,
        _ => false,
    }
}

impl Pipeline {
    /// Whether `query` is answered without the cache: another class is
    /// refused, ANY gets the RFC 8482 reply.
    fn needs_cache(query: &QueryView) -> bool {
        query.qclass() == CLASS_IN && query.qtype() != QTYPE_ANY
    }

    /// Writes the reply to a query the cache cannot answer (see
    /// [`needs_cache`](Self::needs_cache)).
    fn answer_locally(query: &QueryView, reply: &mut Vec<u8>) {
        if query.qclass() == CLASS_IN {
            any_reply(query, reply);
        } else {
            error_reply(query, ResponseCode::Refused, None, reply);
        }
    }

    /// Acts on what the cache found for `query`: a hit may start a
    /// prefetch; a miss without RD is refused. True when `reply` holds
    /// the reply.
    fn after_lookup(&self, query: &QueryView, found: Lookup, reply: &mut Vec<u8>) -> bool {
        match found {
            Lookup::Hit { prefetch } => {
                if prefetch && self.inner.prefetch {
                    let (me, query) = (self.clone(), *query);
                    tokio::spawn(async move { me.resolve_upstream(&query).await });
                }
                true
            }
            Lookup::Miss | Lookup::Stale if !query.recursion_desired() => {
                // RFC 8914 §4.21: not answering from cache without recursion.
                let ede = Ede {
                    code: EdeCode::NotAuthoritative,
                    text: "recursion not desired and not in cache",
                };
                error_reply(query, ResponseCode::Refused, Some(ede), reply);
                true
            }
            Lookup::Miss | Lookup::Stale => false,
        }
    }
}

impl Resolve for Pipeline {
    fn answer_now(&self, query: &QueryView, reply: &mut Vec<u8>) -> bool {
        if !Self::needs_cache(query) {
            Self::answer_locally(query, reply);
            return true;
        }
        let found = self
            .inner
            .answers
            .lookup(query, self.now(), StalePolicy::FreshOnly, reply);
        self.after_lookup(query, found, reply)
    }

    /// Runs of queries for the cache are looked up together
    /// ([`AnswerCache::lookup_many`]), each then treated as `answer_now` would.
    fn answer_many_now(
        &self,
        queries: &[QueryView],
        replies: &mut [Vec<u8>],
        answered: &mut [bool],
    ) {
        let n = queries.len().min(replies.len()).min(answered.len());
        let now = self.now();
        let mut start = 0;
        while start < n {
            if !Self::needs_cache(&queries[start]) {
                Self::answer_locally(&queries[start], &mut replies[start]);
                answered[start] = true;
                start += 1;
                continue;
            }
            let mut end = start + 1;
            while end < n && end - start < LOOKUP_BATCH && Self::needs_cache(&queries[end]) {
                end += 1;
            }
            let mut found = [Lookup::Miss; LOOKUP_BATCH];
            let found = &mut found[..end - start];
            self.inner.answers.lookup_many(
                &queries[start..end],
                now,
                StalePolicy::FreshOnly,
                &mut replies[start..end],
                found,
            );
            for (k, &found) in (start..end).zip(found.iter()) {
                answered[k] = self.after_lookup(&queries[k], found, &mut replies[k]);
            }
            start = end;
        }
    }

    fn resolve(&self, query: QueryView) -> impl Future<Output = Vec<u8>> + Send {
        let me = self.clone();
        async move { me.resolve_upstream(&query).await }
    }
}

/// RFC 8482 §4.2: one synthesized HINFO record instead of everything.
fn any_reply(query: &QueryView, out: &mut Vec<u8>) {
    let mut msg = reply_message(query);
    let hinfo = HINFO::new("RFC8482".to_owned(), String::new());
    msg.add_answer(Record::from_rdata(
        client_name(query),
        ANY_REPLY_TTL,
        RData::HINFO(hinfo),
    ));
    out.clear();
    if let Ok(bytes) = msg.to_vec() {
        out.extend_from_slice(&bytes);
    }
}
