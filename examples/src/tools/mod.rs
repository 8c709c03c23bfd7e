//! The operator tools' views of `/metrics`, built while the body streams through kumo-metrics'
//! parser and sized by what they show, not by the number of queues:
//!
//! | type | for | memory |
//! |---|---|---|
//! | [`TopView`] | `top`: totals and the K busiest queues | O(K) |
//! | [`QueueSummary`] | `queue-summary`: providers, queues (all, or the N busiest), totals, MX addresses | O(queues) or O(N) |
//!
//! "Busiest" means the most messages in `scheduled_count`; equal counts keep the order of the
//! body (a name sort of a million rows would cost more than the whole parse). The other
//! columns of the kept rows come from the families that follow `scheduled_count` in the body
//! (the demo registers it first); a per-queue family listed before it cannot be attributed to
//! the kept rows without keeping every queue, and its columns show `-`.

mod interner;
mod queue_summary;
mod top_view;
mod topk;

pub use interner::Interner;
pub use queue_summary::{QueueSummary, SummaryBuilder};
pub use top_view::{TopBuilder, TopView};
pub use topk::{Ranked, TopK, desc_key};

use std::fmt;

/// A count as the tables show it, `-` for unknown (`NaN`); honours width and alignment, and
/// formats without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell(pub(crate) f64);

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_nan() {
            f.pad("-")
        } else {
            fmt::Display::fmt(&self.0, f)
        }
    }
}
