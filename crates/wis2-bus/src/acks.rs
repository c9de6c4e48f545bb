//! Which PUBACK completes which publish. rumqttc gives no per-publish completion, so
//! the event loop pairs each `Outgoing::Publish(pkid)` with the oldest waiting
//! publish (requests are sent in the order they were queued, and a retransmission
//! reuses its packet id), then completes it on `Incoming::PubAck(pkid)`. A publish
//! rumqttc holds back because its packet id is still in use (`Outgoing::AwaitAck`) is
//! paired when it leaves.

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

#[derive(Default)]
pub(crate) struct AckTracker {
    /// Publishes queued to the client, not yet seen leaving (FIFO).
    pub(crate) queued: VecDeque<oneshot::Sender<()>>,
    /// Publishes sent, by packet id, waiting for PUBACK.
    pub(crate) sent: HashMap<u16, oneshot::Sender<()>>,
    /// The publish rumqttc holds back because its packet id is still in use
    /// (`Outgoing::AwaitAck`): it leaves as `Outgoing::Publish` of that id once the
    /// id's PUBACK arrives, or never when the session is lost.
    collided: Option<(u16, oneshot::Sender<()>)>,
}

impl AckTracker {
    /// `Outgoing::Publish(pkid)`: the publish that left is the collided one when it
    /// waited for this id, else the oldest queued; a retransmission (id already
    /// waiting) changes nothing.
    pub(crate) fn sent(&mut self, pkid: u16) {
        if self.sent.contains_key(&pkid) {
            return;
        }
        let done = match self.collided.take() {
            Some((id, done)) if id == pkid => Some(done),
            other => {
                self.collided = other;
                self.queued.pop_front()
            }
        };
        if let Some(done) = done {
            self.sent.insert(pkid, done);
        }
    }

    /// `Outgoing::AwaitAck(pkid)`: the oldest queued publish collided with a publish
    /// still waiting for its PUBACK under the same id.
    pub(crate) fn collided(&mut self, pkid: u16) {
        if let Some(done) = self.queued.pop_front() {
            self.collided = Some((pkid, done));
        }
    }

    /// The connection is closed for good: every waiter fails; returns how many.
    pub(crate) fn close(&mut self) -> usize {
        let n = self.sent.len() + usize::from(self.collided.is_some()) + self.queued.len();
        *self = AckTracker::default();
        n
    }

    /// A new session: every publish rumqttc held for the old one is gone (sent and
    /// not acknowledged, collided, or taken from the queue and not sent: the
    /// `unsent` oldest queued). Their waiters fail; returns how many.
    pub(crate) fn session_lost(&mut self, unsent: usize) -> usize {
        let mut dropped = self.sent.len() + usize::from(self.collided.is_some());
        self.sent.clear();
        self.collided = None;
        for _ in 0..unsent {
            if self.queued.pop_front().is_some() {
                dropped += 1;
            }
        }
        dropped
    }
}

/// The tracker, whatever a panicking holder left: its state stays consistent between
/// statements.
pub(crate) fn lock(m: &std::sync::Mutex<AckTracker>) -> std::sync::MutexGuard<'_, AckTracker> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(t: &mut AckTracker) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        t.queued.push_back(tx);
        rx
    }

    #[test]
    fn a_collided_publish_is_paired_when_it_leaves_not_with_the_next_one() {
        let mut t = AckTracker::default();
        let mut a = waiter(&mut t);
        let mut b = waiter(&mut t);
        let mut c = waiter(&mut t);
        t.sent(1); // a leaves as 1
        t.collided(1); // b waits for 1's PUBACK
        t.sent(2); // c leaves as 2 (a retransmission path, say)
        t.sent(1); // a retransmission of 1: nothing changes
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(a.try_recv().is_ok());
        t.sent(1); // b leaves as 1
        let _ = t.sent.remove(&2).map(|d| d.send(()));
        assert!(c.try_recv().is_ok());
        assert!(b.try_recv().is_err(), "b is not acknowledged yet");
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(b.try_recv().is_ok());
    }

    #[test]
    fn a_lost_session_fails_what_it_took_and_keeps_what_is_queued() {
        let mut t = AckTracker::default();
        let mut sent = waiter(&mut t);
        let mut collided = waiter(&mut t);
        let mut unsent = waiter(&mut t);
        let mut queued = waiter(&mut t);
        t.sent(7);
        t.collided(7);
        assert_eq!(t.session_lost(1), 3);
        for rx in [&mut sent, &mut collided, &mut unsent] {
            assert!(matches!(
                rx.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ));
        }
        t.sent(1);
        let _ = t.sent.remove(&1).map(|d| d.send(()));
        assert!(queued.try_recv().is_ok(), "the queued one keeps its waiter");
    }
}
