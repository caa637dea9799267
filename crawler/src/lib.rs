//! The crawler: the same fetch of `/`, `/1` … `/9` on every stage of the runtime
//! (`stage0` … `stage5`, in workshop order), and the plumbing every stage shares, written
//! once; each module's own summary says what it holds.

pub mod cli;
pub mod fetch;
pub mod http;
pub mod limits;
pub mod links;
pub mod report;
pub mod site;
pub mod url;

pub mod stage0;
pub mod stage1;
pub mod stage2;
pub mod stage3;
pub mod stage4;
pub mod stage5;

use std::time::Instant;

use fetch::Outcome;

/// One way to crawl: a stage of the workshop.
#[derive(Clone, Copy)]
pub struct Stage {
    /// How the tour names it, e.g. `stage1`.
    pub name: &'static str,
    /// The idea it teaches, in a few words.
    pub idea: &'static str,
    /// Fetches every URL before `deadline`; outcomes in the order of `urls`.
    pub crawl: fn(&[String], Instant) -> Vec<Outcome>,
}

/// Every stage that exists, in workshop order.
pub fn stages() -> Vec<Stage> {
    let stage = |name, idea, crawl| Stage { name, idea, crawl };
    vec![
        stage("stage0", stage0::IDEA, stage0::crawl),
        stage(
            "stage0 --threads",
            stage0::IDEA_THREADS,
            stage0::crawl_threads,
        ),
        stage("stage1", stage1::IDEA, stage1::crawl),
        stage("stage2", stage2::IDEA, stage2::crawl),
        stage("stage3", stage3::IDEA, stage3::crawl),
        stage("stage4", stage4::IDEA, stage4::crawl),
        stage("stage5", stage5::IDEA, stage5::crawl),
    ]
}
