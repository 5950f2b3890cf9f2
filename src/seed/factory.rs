//! The generator thread of `seed`: leads in chunks, oldest first, with their touchpoints
//! and events released in global time order, turned into INSERT statements per lane.
//! Events get their log positions here, in that order, so the log is in time order
//! whichever lane writes an event first, and the rows can be folded into the KPI rollups
//! as they are written, in the order a read of the log would return them.

use std::{cmp::Ordering, collections::BinaryHeap, sync::mpsc::SyncSender};

use entity::{Channel, lead, lead_event, touchpoint};
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
    /// The log position of the first event.
    pub first_position: i64,
    /// Where the rows go, once their statements are built, to be folded into the rollups.
    pub written: Option<SyncSender<Written>>,
}

/// The leads and events of one chunk, as written; events per lane, each in log order.
pub(super) struct Written {
    pub leads: Vec<lead::Model>,
    pub events: Vec<Vec<lead_event::Model>>,
}

impl LeadFactory {
    pub fn run(self, sender: &pipe::Sender<Result<Chunk, DbErr>>) {
        let Self {
            mut rng,
            mut ids,
            run,
            cast,
            reasons,
            accounts,
            campaigns,
            mut inserts,
            leads,
            start,
            now,
            lanes,
            first_position,
            written,
        } = self;
        let lanes = lanes.max(1);
        let planner = Planner { cast: &cast, reasons: &reasons };
        let arrivals = Arrivals::new(start, now);
        let mut batches: Vec<Batch> = (0..lanes).map(|_| Batch::default()).collect();
        let mut pending = Pending::starting_at(first_position);
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
            for (lane, batch) in batches.iter_mut().enumerate() {
                pending.hold(lane, batch);
            }
            let (touchpoints, events) = pending.release(until, lanes);
            let mut chunk = Chunk { lanes: Vec::with_capacity(lanes), leads: 0, touchpoints: 0, events: 0 };
            let mut built = Ok(());
            for ((batch, touchpoints), events) in batches.iter().zip(&touchpoints).zip(&events) {
                let mut statements = Vec::new();
                built = built
                    .and_then(|()| inserts.build(&batch.leads, &mut statements))
                    .and_then(|()| inserts.build(touchpoints, &mut statements))
                    .and_then(|()| inserts.build(events, &mut statements));
                chunk.leads += batch.leads.len() as u64;
                chunk.touchpoints += touchpoints.len() as u64;
                chunk.events += events.len() as u64;
                chunk.lanes.push(statements);
            }
            if let Some(written) = &written {
                let leads = batches.iter_mut().flat_map(|batch| batch.leads.drain(..)).collect();
                // The fold only stops early when the load failed, which reports its own error.
                let _ = written.send(Written { leads, events });
            }
            batches.iter_mut().for_each(Batch::clear);
            let failed = built.is_err();
            if sender.send(built.map(|()| chunk)).is_err() || failed {
                // Either the writer failed and reports its own error, or ours is sent.
                return;
            }
        }
    }
}

/// Touchpoints and events of leads already written, waiting for their time, of every lane.
///
/// Releasing them in global time order is what the live system does — the log's
/// positions follow time — and it keeps every time-keyed index (ids are v7 too) growing
/// at its end, which is most of what makes a million leads fast to write.
struct Pending {
    touchpoints: BinaryHeap<Due<touchpoint::Model>>,
    events: BinaryHeap<Due<lead_event::Model>>,
    /// Arrival counter: rows due at the same instant keep the order they came in, so a
    /// lead's events stay in order.
    seq: u64,
    /// The log position of the next event released.
    position: i64,
}

impl Pending {
    fn starting_at(position: i64) -> Self {
        Self { touchpoints: BinaryHeap::new(), events: BinaryHeap::new(), seq: 0, position }
    }

    fn hold(&mut self, lane: usize, batch: &mut Batch) {
        for row in batch.touchpoints.drain(..) {
            self.seq += 1;
            let at = row.occurred_at.timestamp_micros();
            self.touchpoints.push(Due { at, seq: self.seq, lane, row: Box::new(row) });
        }
        for row in batch.events.drain(..) {
            self.seq += 1;
            let at = row.occurred_at.timestamp_micros();
            self.events.push(Due { at, seq: self.seq, lane, row: Box::new(row) });
        }
    }

    /// Everything due before `until`, oldest first, per lane; events numbered in that order.
    fn release(&mut self, until: i64, lanes: usize) -> (Vec<Vec<touchpoint::Model>>, Vec<Vec<lead_event::Model>>) {
        let touchpoints = drain_until(&mut self.touchpoints, until, lanes, |_| {});
        let position = &mut self.position;
        let events = drain_until(&mut self.events, until, lanes, |event| {
            event.position = *position;
            *position += 1;
        });
        (touchpoints, events)
    }
}

fn drain_until<T>(
    heap: &mut BinaryHeap<Due<T>>,
    until: i64,
    lanes: usize,
    mut each: impl FnMut(&mut T),
) -> Vec<Vec<T>> {
    let mut due: Vec<Vec<T>> = (0..lanes).map(|_| Vec::new()).collect();
    while heap.peek().is_some_and(|next| next.at < until) {
        if let Some(next) = heap.pop() {
            let mut row = *next.row;
            each(&mut row);
            due[next.lane].push(row);
        }
    }
    due
}

/// A row in the min-heap, ordered by (time, arrival) only. Boxed, so that sifting
/// moves a pointer rather than a few hundred bytes of row.
struct Due<T> {
    at: i64,
    seq: u64,
    /// The lane that writes it: its lead's.
    lane: usize,
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
