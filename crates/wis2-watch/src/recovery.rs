//! When the broker may have lost what it held, and when the chain is whole again.
//!
//! Mosquitto acknowledges a QoS 1 message before it is on disk: a broker killed and
//! restarted comes back with its last snapshot, or with nothing, and without the
//! events, messages and confirmations it took since. `wis2-watch` knows which files
//! are still pending (announced, not confirmed on the WIS2 topic), so after such a
//! loss it announces them again at once, instead of waiting for the confirmation
//! timeout. "At once" means as soon as the chain can take them: an event published
//! before `wis2-create` has its session back would go to no one, and so would that
//! service's messages before `wis2-validate` has its own. So the re-announcement
//! waits until every downstream service has a status on `chain/status/<service>`
//! again ([`wis2_bus::status`]: present means the broker holds its session), at most
//! [`RECOVERY_WAIT`].
//!
//! What counts as a possible loss: every reconnection (a broker restarted from its
//! snapshot says `session_present` and has lost what it took since), and a first
//! connection of this process to a broker that no longer had its session while the
//! store has pending files (the broker restarted while `wis2-watch` was down). New
//! files wait while a recovery does, pending files or not.
//!
//! The statuses also decide when the confirmation timeout may fire: only once every
//! downstream service has been online for the whole timeout (a service that is down
//! holds its queue; announcing again would only pile up copies in it).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use wis2_bus::bus::Session;
use wis2_bus::status::{State, Status};

/// The services a file's event goes through after `wis2-watch`, in order.
pub const DOWNSTREAM: [&str; 3] = ["wis2-create", "wis2-validate", "wis2-publish"];

/// The longest the re-announcement waits for the chain after a reconnection; past it,
/// the files are announced all the same (a service without a status, an older ACL).
pub const RECOVERY_WAIT: Duration = Duration::from_secs(30);

/// What is known of one downstream service.
#[derive(Debug, Clone, Copy)]
struct Seen {
    state: State,
    /// The connection of `wis2-watch` it was received on ([`Session::connects`]).
    connection: u64,
    /// When it was seen coming online (for the confirmation timeout).
    online_since: Option<Instant>,
}

/// A re-announcement waiting for the chain to be whole.
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    /// The connection it started on.
    pub connection: u64,
    /// The broker still had this service's session.
    pub session_present: bool,
    /// When it goes ahead whatever the statuses say.
    pub deadline: Instant,
    /// It waits for every downstream service to be online, not only present (after
    /// the broker dropped queued messages: announcing into a stopped service's full
    /// queue would only lose more).
    pub needs_online: bool,
}

/// The broker's count of messages it dropped (mosquitto publishes it every
/// `sys_interval`, 10 s by default): queued messages beyond a session's
/// `max_queued_messages`, among others.
pub const DROPPED: &str = "$SYS/broker/publish/messages/dropped";

/// What the broker said it dropped so far.
#[derive(Debug, Default)]
pub struct Dropped {
    /// The last count, and the connection it came on (a restarted broker counts
    /// from zero).
    last: Option<(u64, u64)>,
}

impl Dropped {
    /// A new count on `connection`: how many more were dropped since the last one
    /// of the same connection, when any.
    pub fn observe(&mut self, payload: &[u8], connection: u64) -> Option<u64> {
        let n: u64 = std::str::from_utf8(payload).ok()?.trim().parse().ok()?;
        let before = self.last.replace((n, connection));
        match before {
            Some((was, c)) if c == connection && n > was => Some(n - was),
            _ => None,
        }
    }
}

/// The statuses of the downstream services, as this connection has seen them.
#[derive(Debug, Default)]
pub struct ChainView {
    seen: HashMap<String, Seen>,
    /// A status was ever received: the chain publishes them (older deployments do not,
    /// and then nothing waits for them).
    any: bool,
}

impl ChainView {
    /// Records the status on `topic`, received on `connection`.
    pub fn observe(&mut self, service: &str, status: &Status, connection: u64, now: Instant) {
        if !DOWNSTREAM.contains(&service) {
            return;
        }
        self.any = true;
        let was = self.seen.get(service).copied();
        let online_since = match status.state {
            State::Online => was.and_then(|w| w.online_since).or(Some(now)),
            State::Offline => None,
        };
        self.seen.insert(
            service.to_string(),
            Seen {
                state: status.state,
                connection,
                online_since,
            },
        );
    }

    /// Every downstream service's status was received on `connection`: the broker
    /// holds their sessions again.
    pub fn whole_on(&self, connection: u64) -> bool {
        DOWNSTREAM.iter().all(|s| {
            self.seen
                .get(*s)
                .is_some_and(|x| x.connection == connection)
        })
    }

    /// Every downstream service is online.
    pub fn online(&self) -> bool {
        DOWNSTREAM
            .iter()
            .all(|s| self.seen.get(*s).is_some_and(|x| x.state == State::Online))
    }

    /// The services whose status `connection` has not seen yet.
    pub fn missing_on(&self, connection: u64) -> Vec<&'static str> {
        DOWNSTREAM
            .iter()
            .filter(|s| {
                self.seen
                    .get(**s)
                    .is_none_or(|x| x.connection != connection)
            })
            .copied()
            .collect()
    }

    /// Whether a file unconfirmed for `timeout` is announced again: every downstream
    /// service has been online for at least `timeout` (or no status was ever seen).
    pub fn may_time_out(&self, timeout: Duration, now: Instant) -> bool {
        !self.any
            || DOWNSTREAM.iter().all(|s| {
                self.seen.get(*s).is_some_and(|x| {
                    x.state == State::Online
                        && x.online_since
                            .is_some_and(|t| now.duration_since(t) >= timeout)
                })
            })
    }
}

impl Recovery {
    /// The recovery a new connection calls for, if any: `pending` says whether the
    /// store has unconfirmed files. Every reconnection calls for one, pending files or
    /// not: until the chain is whole again, a new file's event could go to no one.
    pub fn after_connect(session: Session, pending: bool, now: Instant) -> Option<Recovery> {
        let lost =
            session.is_reconnection() || (session.connects == 1 && !session.present && pending);
        lost.then(|| Recovery {
            connection: session.connects,
            session_present: session.present,
            deadline: now + RECOVERY_WAIT,
            needs_online: false,
        })
    }

    /// The recovery after the broker dropped queued messages, on `connection`: no
    /// deadline, it waits until every downstream service is online.
    pub fn after_drop(connection: u64, now: Instant) -> Recovery {
        Recovery {
            connection,
            session_present: true,
            deadline: now + Duration::from_secs(365 * 24 * 3600),
            needs_online: true,
        }
    }

    /// Whether it goes ahead now.
    pub fn ready(&self, chain: &ChainView, now: Instant) -> bool {
        if self.needs_online {
            return !chain.any || chain.online();
        }
        now >= self.deadline || !chain.any || chain.whole_on(self.connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: State) -> Status {
        Status::new("x", state, "x")
    }

    fn session(connects: u64, present: bool) -> Session {
        Session { connects, present }
    }

    #[test]
    fn which_connections_call_for_a_recovery() {
        let now = Instant::now();
        // A first connection to a broker that kept the session: nothing was lost.
        assert!(Recovery::after_connect(session(1, true), true, now).is_none());
        // A first connection to a broker without the session, with files pending.
        assert!(Recovery::after_connect(session(1, false), true, now).is_some());
        // Every reconnection, session or not; but only with files pending.
        assert!(Recovery::after_connect(session(2, true), true, now).is_some());
        assert!(Recovery::after_connect(session(3, false), true, now).is_some());
        // A reconnection with nothing pending still waits for the chain: the files
        // that arrive meanwhile must not go to services without their sessions.
        assert!(Recovery::after_connect(session(2, false), false, now).is_some());
        assert!(Recovery::after_connect(session(1, false), false, now).is_none());
    }

    #[test]
    fn a_recovery_waits_for_every_downstream_status_of_its_connection() {
        let now = Instant::now();
        let mut chain = ChainView::default();
        let r = Recovery::after_connect(session(2, false), true, now).expect("recovery");
        // No status ever seen: an older deployment, nothing to wait for.
        assert!(r.ready(&chain, now));
        chain.observe("wis2-create", &status(State::Online), 1, now);
        // Seen on the old connection only: not yet.
        assert!(!r.ready(&chain, now));
        chain.observe("wis2-create", &status(State::Online), 2, now);
        chain.observe("wis2-validate", &status(State::Offline), 2, now);
        assert_eq!(chain.missing_on(2), ["wis2-publish"]);
        assert!(!r.ready(&chain, now));
        // Other services' statuses change nothing.
        chain.observe("wis2-console", &status(State::Online), 2, now);
        assert!(!r.ready(&chain, now));
        chain.observe("wis2-publish", &status(State::Online), 2, now);
        assert!(
            r.ready(&chain, now),
            "an offline service's session is there"
        );
        // Past the deadline it goes ahead whatever.
        let mut lone = ChainView::default();
        lone.observe("wis2-create", &status(State::Online), 2, now);
        assert!(!r.ready(&lone, now));
        assert!(r.ready(&lone, now + RECOVERY_WAIT));
    }

    #[test]
    fn dropped_messages_are_counted_per_broker_run_and_wait_for_an_online_chain() {
        let mut d = Dropped::default();
        assert_eq!(d.observe(b"0", 1), None, "the first count is the baseline");
        assert_eq!(d.observe(b"0", 1), None);
        assert_eq!(d.observe(b"7", 1), Some(7));
        assert_eq!(d.observe(b"not a number", 1), None);
        // A restarted broker counts from zero again: a new baseline.
        assert_eq!(d.observe(b"3", 2), None);
        assert_eq!(d.observe(b"5", 2), Some(2));

        let now = Instant::now();
        let r = Recovery::after_drop(2, now);
        let mut chain = ChainView::default();
        for s in DOWNSTREAM {
            chain.observe(s, &status(State::Online), 2, now);
        }
        chain.observe("wis2-create", &status(State::Offline), 2, now);
        assert!(
            !r.ready(&chain, now + RECOVERY_WAIT * 10),
            "not into a stopped service"
        );
        chain.observe("wis2-create", &status(State::Online), 2, now);
        assert!(r.ready(&chain, now));
    }

    #[test]
    fn the_timeout_fires_only_once_the_chain_was_online_for_all_of_it() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(300);
        let mut chain = ChainView::default();
        assert!(chain.may_time_out(timeout, t0), "no status: as before");
        for s in DOWNSTREAM {
            chain.observe(s, &status(State::Online), 1, t0);
        }
        assert!(!chain.may_time_out(timeout, t0 + Duration::from_secs(299)));
        assert!(chain.may_time_out(timeout, t0 + timeout));
        // A service going offline stops it; back online, the clock starts again.
        chain.observe("wis2-create", &status(State::Offline), 1, t0 + timeout);
        assert!(!chain.may_time_out(timeout, t0 + timeout * 2));
        let back = t0 + timeout * 2;
        chain.observe("wis2-create", &status(State::Online), 1, back);
        // A repeated online keeps its start.
        chain.observe("wis2-create", &status(State::Online), 2, back + timeout / 2);
        assert!(!chain.may_time_out(timeout, back + timeout / 2));
        assert!(chain.may_time_out(timeout, back + timeout));
    }
}
