//! Many (key, RRset, RRSIG) checks at once, across threads.
//!
//! For cold-cache bursts: the jobs are shared out dynamically (an atomic
//! cursor), each thread with its own [`Scratch`], all sharing the
//! [`Verifier`]'s memo. Results come back in job order.
//!
//! # Limitations
//! Threads are spawned per call (`std::thread::scope`): worth it for
//! batches costing well over the ~20 µs a spawn takes, not for one or two
//! signatures. Each job names its key, so each spends at most one check;
//! a KeyTrap budget over several keys is [`Verifier::verify_with_keys`]'s.

use core::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use anchorage_wire::proto::rr::Record;

use crate::error::VerifyError;
use crate::key::DnskeyVerifier;
use crate::rrsig::{Budget, Scratch, Verified, Verifier};

/// One signature check of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The key the RRSIG names.
    pub key: &'a DnskeyVerifier,
    /// The records of the RRset.
    pub rrset: &'a [Record],
    /// The RRSIG record.
    pub rrsig: &'a Record,
}

impl Verifier {
    /// Checks every job on up to `threads` threads (the caller's included);
    /// result `i` is job `i`'s.
    ///
    /// # Panics
    /// Only if a worker thread panicked; its panic is resumed here.
    pub fn verify_batch(
        &self,
        jobs: &[Job<'_>],
        now: SystemTime,
        threads: NonZeroUsize,
    ) -> Vec<Result<Verified, VerifyError>> {
        let cursor = AtomicUsize::new(0);
        let work = |out: &mut Vec<(usize, Result<Verified, VerifyError>)>| {
            let mut scratch = Scratch::new();
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let mut budget = Budget::new(1);
                let result = self.verify_rrset(
                    job.key,
                    job.rrset,
                    job.rrsig,
                    now,
                    &mut budget,
                    &mut scratch,
                );
                out.push((i, result));
            }
        };
        let helpers = threads.get().min(jobs.len()).saturating_sub(1);
        let mut mine = Vec::with_capacity(jobs.len());
        let theirs: Vec<Vec<(usize, Result<Verified, VerifyError>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..helpers)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        work(&mut out);
                        out
                    })
                })
                .collect();
            work(&mut mine);
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut results: Vec<Option<Result<Verified, VerifyError>>> = vec![None; jobs.len()];
        for (i, result) in mine.into_iter().chain(theirs.into_iter().flatten()) {
            results[i] = Some(result);
        }
        results
            .into_iter()
            // Invariant: the cursor hands every index below jobs.len() to
            // exactly one thread, and every thread has joined.
            .map(|r| r.expect("every job was run"))
            .collect()
    }
}
