//! What a triage run reports while it runs — one event type for every front end — and the
//! outbox that carries events from a run to a consumer that may fall behind: consecutive
//! text deltas merge into one, so nothing is dropped and the queue stays short.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::search::Hit;

use super::engine::TriageOutcome;

/// Progress of one run, in order: `Started`, `Retrieved`, any number of `Text` and
/// `Warning`, then exactly one of `Verdict` or (`RawAnswer` and) `Error`.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run has a store row (its triage id) and an engine.
    Started {
        triage_id: String,
        engine: String,
        model: Option<String>,
    },
    /// Retrieval is done: the techniques the engine will see.
    Retrieved(Vec<Hit>),
    /// Reasoning as it streams (sanitised by the consumer before it reaches a terminal).
    Text(String),
    /// Something the analyst should know that does not stop the run.
    Warning(String),
    /// The model asked for a tool (agentic mode); its result follows as `ToolResult`.
    ToolCall {
        id: String,
        name: String,
        input: String,
    },
    /// A tool call finished: what it returned, how long it took, cached or live.
    ToolResult(Box<super::tools::ToolRecord>),
    Verdict(Box<TriageOutcome>),
    /// `[autoclose]` closed the alert after its verdict; why.
    AutoClosed(String),
    /// The model's whole answer (both turns when a repair was asked for) when it could not
    /// be made into a verdict; sent just before `Error`, so a front end can show what the
    /// model said, marked unvalidated.
    RawAnswer(String),
    Error(String),
}

/// Receives a run's events as they happen. A closure over `Event` is an observer.
pub trait Observer: Send {
    fn event(&mut self, event: Event);
}

impl<F: FnMut(Event) + Send> Observer for F {
    fn event(&mut self, event: Event) {
        self(event)
    }
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: Event) {}
}

struct Shared {
    queue: Mutex<VecDeque<Event>>,
    notify: Notify,
    closed: AtomicBool,
}

/// The sending half: an `Observer`. Dropping it ends the receiver's stream once drained.
pub struct OutboxSender(Arc<Shared>);

/// The receiving half.
pub struct OutboxReceiver(Arc<Shared>);

/// A channel for run events whose consecutive text deltas coalesce when the consumer lags.
pub fn outbox() -> (OutboxSender, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        notify: Notify::new(),
        closed: AtomicBool::new(false),
    });
    (OutboxSender(shared.clone()), OutboxReceiver(shared))
}

impl Observer for OutboxSender {
    fn event(&mut self, event: Event) {
        if let Ok(mut q) = self.0.queue.lock() {
            match (q.back_mut(), event) {
                (Some(Event::Text(last)), Event::Text(more)) => last.push_str(&more),
                (_, event) => q.push_back(event),
            }
        }
        self.0.notify.notify_one();
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.notify.notify_one();
    }
}

impl OutboxReceiver {
    /// The next event (texts that queued up meanwhile arrive merged), or `None` once the
    /// sender is gone and everything was taken.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.0.queue.lock().ok().and_then(|mut q| q.pop_front()) {
                return Some(e);
            }
            if self.0.closed.load(Ordering::SeqCst) {
                // The sender may have queued its last events just before closing.
                return self.0.queue.lock().ok().and_then(|mut q| q.pop_front());
            }
            // `notify_one` stores a permit when nobody waits, so no wake-up is lost.
            self.0.notify.notified().await;
        }
    }

    /// Events waiting now (for tests and for measuring how far a consumer fell behind).
    pub fn pending(&self) -> usize {
        self.0.queue.lock().map_or(0, |q| q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn texts_merge_while_the_consumer_lags_and_nothing_is_lost() {
        let (mut tx, mut rx) = outbox();
        tx.event(Event::Retrieved(Vec::new()));
        for i in 0..1000 {
            tx.event(Event::Text(format!("{i} ")));
        }
        tx.event(Event::Warning("w".into()));
        tx.event(Event::Text("tail".into()));
        assert_eq!(rx.pending(), 4, "a thousand deltas wait as one");
        drop(tx);
        let mut got = Vec::new();
        while let Some(e) = rx.recv().await {
            got.push(e);
        }
        assert!(matches!(got[0], Event::Retrieved(_)));
        let Event::Text(t) = &got[1] else {
            panic!("text")
        };
        assert!(t.starts_with("0 1 2 ") && t.ends_with("998 999 "));
        assert!(matches!(&got[2], Event::Warning(w) if w == "w"));
        assert!(matches!(&got[3], Event::Text(t) if t == "tail"));
        assert_eq!(got.len(), 4);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_each_event() {
        let (mut tx, mut rx) = outbox();
        let consumer = tokio::spawn(async move {
            let mut n = 0;
            while let Some(e) = rx.recv().await {
                if let Event::Text(t) = e {
                    n += t.len();
                }
            }
            n
        });
        for _ in 0..50 {
            tx.event(Event::Text("ab".into()));
            tokio::task::yield_now().await;
        }
        drop(tx);
        assert_eq!(consumer.await.expect("join"), 100);
    }
}
