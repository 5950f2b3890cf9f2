//! Load: a closed loop (N clients, each sending its next request when the last one is
//! answered) to find peak throughput, and an open loop (requests on a fixed schedule) to
//! measure latency at a given rate without coordinated omission: each request's latency
//! counts from when it was due, not from when it could be sent.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::{sync::Semaphore, time::Instant};

/// One request of a load: given its sequence number, whether it succeeded.
pub type Request = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// What a load run measured. Latencies are in microseconds.
pub struct Run {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Run {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// `clients` clients sending back to back for `duration`, or until `limit` requests were sent.
pub async fn closed_loop(clients: usize, duration: Duration, limit: Option<u64>, request: Request) -> Run {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (next, request) = (Arc::clone(&next), Arc::clone(&request));
            tokio::spawn(async move {
                let (mut latency, mut errors) = (histogram(), 0u64);
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if limit.is_some_and(|limit| n >= limit) {
                        break;
                    }
                    let sent = Instant::now();
                    if !request(n).await {
                        errors += 1;
                    }
                    let _ = latency.record(sent.elapsed().as_micros() as u64);
                }
                (latency, errors)
            })
        })
        .collect();
    collect(workers, started).await
}

/// `rate` requests per second for `duration`, at most `in_flight` at once.
pub async fn open_loop(rate: f64, duration: Duration, in_flight: usize, request: Request) -> Run {
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()) as u64;
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let ok = request(n).await;
            drop(permit);
            (due.elapsed().as_micros() as u64, ok)
        }));
    }
    let mut run = Run { requests: 0, errors: 0, elapsed: Duration::ZERO, latency: histogram() };
    for task in tasks {
        if let Ok((micros, ok)) = task.await {
            run.requests += 1;
            run.errors += u64::from(!ok);
            let _ = run.latency.record(micros);
        }
    }
    run.elapsed = started.elapsed();
    run
}

async fn collect(workers: Vec<tokio::task::JoinHandle<(Histogram<u64>, u64)>>, started: Instant) -> Run {
    let mut run = Run { requests: 0, errors: 0, elapsed: Duration::ZERO, latency: histogram() };
    for worker in workers {
        if let Ok((latency, errors)) = worker.await {
            run.requests += latency.len();
            run.errors += errors;
            let _ = run.latency.add(&latency);
        }
    }
    run.elapsed = started.elapsed();
    run
}
