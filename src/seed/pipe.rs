//! A bounded hand-off from a plain thread to async code, built on std alone.
//!
//! `seed` generates rows on its own thread while the async side writes the previous
//! chunk, so generation and the database use both cores. The producer blocks when the
//! buffer is full (backpressure keeps memory flat); the consumer awaits without blocking
//! the runtime.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    task::{Poll, Waker},
};

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The consumer waiting for an item.
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when an item is taken or the receiver goes away.
    space: Condvar,
}

impl<T> Shared<T> {
    /// A panic while holding this lock leaves no half-done update behind (every critical
    /// section is a single push, pop or flag), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) struct Sender<T>(Arc<Shared<T>>);

pub(super) struct Receiver<T>(Arc<Shared<T>>);

pub(super) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }),
        space: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Blocks while the buffer is full. Gives the item back if the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        let mut state = self.0.lock();
        while state.items.len() >= state.capacity && !state.receiver_gone {
            state = self.0.space.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.receiver_gone {
            return Err(item);
        }
        state.items.push_back(item);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.sender_gone = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, or `None` once the sender is gone and the buffer is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = self.0.lock();
            if let Some(item) = state.items.pop_front() {
                drop(state);
                self.0.space.notify_one();
                return Poll::Ready(Some(item));
            }
            if state.sender_gone {
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.lock().receiver_gone = true;
        self.0.space.notify_all();
    }
}
