//! The generator thread of `seed`: leads in chunks, oldest first, with their touchpoints
//! and events released in global time order, turned into INSERT statements per lane.

use std::{cmp::Ordering, collections::BinaryHeap};

use entity::{Channel, lead_event, touchpoint};
use rand::{Rng, rngs::StdRng};
use sea_orm::{DbErr, Statement};
use uuid::Uuid;

use crate::db::bulk_insert::Inserts;

use super::{
    generator::{Arrivals, make_contact},
    history::{Batch, Cast, Planner, Reasons},
    pipe,
};

/// Leads generated per chunk: large enough to amortise the per-statement overhead,
/// small enough to keep memory flat (a few chunks in flight, some 100 MB).
pub(super) const CHUNK: u64 = 10_000;

/// One chunk of leads, ready to write.
pub(super) struct Chunk {
    /// Per lane, the leads first, then the touchpoints and events, which refer to them.
    pub lanes: Vec<Vec<Statement>>,
    pub leads: u64,
    pub touchpoints: u64,
    pub events: u64,
}

/// Everything the generator thread owns.
pub(super) struct LeadFactory {
    pub rng: StdRng,
    pub ids: StdRng,
    pub run: String,
    pub cast: Cast,
    pub reasons: Reasons,
    pub accounts: Vec<(Uuid, String)>,
    pub campaigns: Vec<(Uuid, Channel)>,
    pub inserts: Inserts,
    pub leads: u64,
    pub start: i64,
    pub now: i64,
    /// Independent writers. Each lane owns every `lanes`-th lead with all its rows, so
    /// lanes never wait on each other and each lead's events stay in order.
    pub lanes: usize,
}

impl LeadFactory {
    pub fn run(self, sender: &pipe::Sender<Result<Chunk, DbErr>>) {
        let Self { mut rng, mut ids, run, cast, reasons, accounts, campaigns, mut inserts, leads, start, now, lanes } =
            self;
        let lanes = lanes.max(1);
        let planner = Planner { cast: &cast, reasons: &reasons };
        let arrivals = Arrivals::new(start, now);
        let mut batches: Vec<Batch> = (0..lanes).map(|_| Batch::default()).collect();
        let mut pending: Vec<Pending> = (0..lanes).map(|_| Pending::default()).collect();
        let mut done = 0;
        while done < leads {
            let size = CHUNK.min(leads - done);
            let mut frontier = start;
            for (i, lane) in (done..done + size).zip((0..lanes).cycle()) {
                let contact = make_contact(&mut rng, &run, i, &accounts, &campaigns);
                let plan = planner.plan(&mut rng, contact.channel);
                // Leads are made oldest first, so ids and the time-ordered indexes grow
                // at one end instead of all over the tree.
                frontier = arrivals.at((i as f64 + rng.random::<f64>()) / leads as f64);
                plan.materialize(contact, frontier, now, &mut ids, &mut batches[lane]);
            }
            done += size;
            // Every later lead is created at or after `frontier`, and so are its rows:
            // whatever is due before it can be written now, in global time order.
            let until = if done == leads { i64::MAX } else { frontier };
            let mut chunk = Chunk { lanes: Vec::with_capacity(lanes), leads: 0, touchpoints: 0, events: 0 };
            let mut built = Ok(());
            for (batch, pending) in batches.iter_mut().zip(&mut pending) {
                pending.hold(batch);
                let (touchpoints, events) = pending.release(until);
                let mut statements = Vec::new();
                built = built
                    .and_then(|()| inserts.build(&batch.leads, &mut statements))
                    .and_then(|()| inserts.build(&touchpoints, &mut statements))
                    .and_then(|()| inserts.build(&events, &mut statements));
                chunk.leads += batch.leads.len() as u64;
                chunk.touchpoints += touchpoints.len() as u64;
                chunk.events += events.len() as u64;
                chunk.lanes.push(statements);
                batch.clear();
            }
            let failed = built.is_err();
            if sender.send(built.map(|()| chunk)).is_err() || failed {
                // Either the writer failed and reports its own error, or ours is sent.
                return;
            }
        }
    }
}

/// Touchpoints and events of leads already written, waiting for their time.
///
/// Releasing them in global time order is what the live system does — the log's
/// positions follow time — and it keeps every time-keyed index (ids are v7 too) growing
/// at its end, which is most of what makes a million leads fast to write.
#[derive(Default)]
struct Pending {
    touchpoints: BinaryHeap<Due<touchpoint::Model>>,
    events: BinaryHeap<Due<lead_event::Model>>,
    /// Arrival counter: rows due at the same instant keep the order they came in, so a
    /// lead's events stay in order.
    seq: u64,
}

impl Pending {
    fn hold(&mut self, batch: &mut Batch) {
        for row in batch.touchpoints.drain(..) {
            self.seq += 1;
            self.touchpoints.push(Due { at: row.occurred_at.timestamp_micros(), seq: self.seq, row: Box::new(row) });
        }
        for row in batch.events.drain(..) {
            self.seq += 1;
            self.events.push(Due { at: row.occurred_at.timestamp_micros(), seq: self.seq, row: Box::new(row) });
        }
    }

    /// Everything due before `until`, oldest first.
    fn release(&mut self, until: i64) -> (Vec<touchpoint::Model>, Vec<lead_event::Model>) {
        (drain_until(&mut self.touchpoints, until), drain_until(&mut self.events, until))
    }
}

fn drain_until<T>(heap: &mut BinaryHeap<Due<T>>, until: i64) -> Vec<T> {
    let mut due = Vec::new();
    while heap.peek().is_some_and(|next| next.at < until) {
        if let Some(next) = heap.pop() {
            due.push(*next.row);
        }
    }
    due
}

/// A row in the min-heap, ordered by (time, arrival) only. Boxed, so that sifting
/// moves a pointer rather than a few hundred bytes of row.
struct Due<T> {
    at: i64,
    seq: u64,
    row: Box<T>,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Due<T> {}

impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Due<T> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest row first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
