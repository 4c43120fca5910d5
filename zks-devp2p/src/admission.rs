//! Which inbound sockets may run a handshake, sans-IO (time is an argument).
//!
//! Sockets that have not finished setting up (the ECIES handshake, Hello and, with `eth`, the
//! Status) are *pending*. [`Admission`] keeps them in a bounded set, separate from the
//! established links (which keep their own cap):
//!
//! - an address that already has `max_pending_per_ip` pending sockets gets no more: the new
//!   socket is refused ([`Admit::Refused`]);
//! - when the set is full, the oldest pending socket that has not finished its ECIES handshake
//!   is evicted (its handle is handed back for the caller to cancel) and the new one takes its
//!   place, so idle sockets cannot keep an honest peer out for longer than it takes to open
//!   `max_pending` more of them. Among those, sockets that had sent nothing when they were
//!   accepted go first: an honest dialer sends its auth as soon as TCP connects, so under a
//!   flood it is usually waiting by the time the socket is accepted, while an idle flood socket
//!   never sends. A socket past ECIES ([`Admission::authenticated`]: its peer did the key
//!   exchange, a k256 operation an idle flood never pays) is evicted only when no other is
//!   left: a flood of sockets that send nothing no longer resets an honest peer that is one
//!   Hello away from a link;
//! - when more than half the set is taken on arrival, the new socket gets the short
//!   `pressure_handshake_timeout` instead of `handshake_timeout`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits of an [`Admission`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdmissionLimits {
    pub(crate) max_pending: usize,
    pub(crate) max_pending_per_ip: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) pressure_handshake_timeout: Duration,
}

/// One pending socket.
#[derive(Debug)]
struct Pending<H> {
    ip: IpAddr,
    started: Instant,
    handle: H,
}

/// A pending socket that was evicted to make room.
#[derive(Debug)]
pub(crate) struct Evicted<H> {
    pub(crate) ip: IpAddr,
    /// How long it had been pending.
    pub(crate) age: Duration,
    /// Its cancellation handle, for the caller to fire (or drop).
    pub(crate) handle: H,
}

/// What to do with a new inbound socket.
#[derive(Debug)]
pub(crate) enum Admit<H> {
    /// Its address is at the per-address cap: drop the socket.
    Refused,
    /// Run its handshake under `deadline`; finish it with [`Admission::finish`]`(id)`.
    Admitted {
        id: u64,
        deadline: Duration,
        /// The oldest pending socket, evicted because the set was full.
        evicted: Option<Evicted<H>>,
    },
}

/// The bounded set of pending inbound sockets, each with a cancellation handle `H`.
#[derive(Debug)]
pub(crate) struct Admission<H> {
    limits: AdmissionLimits,
    /// By admission id: ids only grow, so the first entry is the oldest.
    pending: BTreeMap<u64, Pending<H>>,
    /// The ids of pending sockets still in their ECIES handshake, evicted first.
    unproven: BTreeSet<u64>,
    /// Those of them that had sent nothing when accepted, evicted before the rest.
    silent: BTreeSet<u64>,
    per_ip: HashMap<IpAddr, usize>,
    next_id: u64,
}

impl<H> Admission<H> {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            pending: BTreeMap::new(),
            unproven: BTreeSet::new(),
            silent: BTreeSet::new(),
            per_ip: HashMap::new(),
            next_id: 0,
        }
    }

    /// How many sockets are pending.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// A socket from `ip` arrived at `now`, its peer having sent something already or not
    /// (`spoke`); `handle` cancels its handshake.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant, spoke: bool, handle: H) -> Admit<H> {
        let ip = ip.to_canonical();
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_pending_per_ip {
            return Admit::Refused;
        }
        let deadline = if self.pending.len() * 2 > self.limits.max_pending {
            self.limits.pressure_handshake_timeout
        } else {
            self.limits.handshake_timeout
        };
        let evicted = if self.pending.len() >= self.limits.max_pending {
            // The oldest that has said nothing, then the oldest still in its ECIES handshake,
            // then the oldest of all.
            let victim = self
                .silent
                .first()
                .or_else(|| self.unproven.first())
                .or_else(|| self.pending.keys().next())
                .copied();
            victim.and_then(|id| self.remove(id)).map(|old| Evicted {
                ip: old.ip,
                age: now.saturating_duration_since(old.started),
                handle: old.handle,
            })
        } else {
            None
        };
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                ip,
                started: now,
                handle,
            },
        );
        self.unproven.insert(id);
        if !spoke {
            self.silent.insert(id);
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
        Admit::Admitted {
            id,
            deadline,
            evicted,
        }
    }

    /// The socket admitted as `id` is no longer pending (set up, failed or gone); a no-op for
    /// one that was evicted. Returns its handle if it was still pending.
    pub(crate) fn finish(&mut self, id: u64) -> Option<H> {
        self.remove(id).map(|done| done.handle)
    }

    /// The socket admitted as `id` finished its ECIES handshake: it is evicted only after every
    /// pending socket that has not. A no-op for one no longer pending.
    pub(crate) fn authenticated(&mut self, id: u64) {
        self.unproven.remove(&id);
        self.silent.remove(&id);
    }

    fn remove(&mut self, id: u64) -> Option<Pending<H>> {
        let done = self.pending.remove(&id)?;
        self.unproven.remove(&id);
        self.silent.remove(&id);
        self.forget_ip(done.ip);
        Some(done)
    }

    fn forget_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(10);
    const SHORT: Duration = Duration::from_secs(2);

    fn admission(max_pending: usize, max_pending_per_ip: usize) -> Admission<&'static str> {
        Admission::new(AdmissionLimits {
            max_pending,
            max_pending_per_ip,
            handshake_timeout: LONG,
            pressure_handshake_timeout: SHORT,
        })
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    /// Admits and returns (id, deadline, evicted handle and age).
    fn admitted(
        a: &mut Admission<&'static str>,
        from: IpAddr,
        now: Instant,
        handle: &'static str,
    ) -> (u64, Duration, Option<(&'static str, Duration)>) {
        match a.admit(from, now, false, handle) {
            Admit::Admitted {
                id,
                deadline,
                evicted,
            } => (id, deadline, evicted.map(|e| (e.handle, e.age))),
            Admit::Refused => panic!("{handle} from {from} was refused"),
        }
    }

    #[test]
    fn the_per_address_cap_refuses_the_next_socket_until_one_finishes() {
        let t0 = Instant::now();
        let mut a = admission(100, 2);
        let (first, _, _) = admitted(&mut a, ip(2), t0, "a");
        admitted(&mut a, ip(2), t0, "b");
        assert!(matches!(a.admit(ip(2), t0, false, "c"), Admit::Refused));
        // Another address is not affected.
        admitted(&mut a, ip(3), t0, "d");
        assert_eq!(a.len(), 3);
        assert_eq!(a.finish(first), Some("a"));
        admitted(&mut a, ip(2), t0, "e");
        assert!(matches!(a.admit(ip(2), t0, false, "f"), Admit::Refused));
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_its_ipv4_address() {
        let t0 = Instant::now();
        let mut a = admission(100, 1);
        admitted(&mut a, ip(2), t0, "a");
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        assert!(matches!(a.admit(mapped, t0, false, "b"), Admit::Refused));
    }

    #[test]
    fn a_full_set_evicts_its_oldest_socket_for_the_new_one() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut a = admission(3, 8);
        for (i, h) in ["a", "b", "c"].into_iter().enumerate() {
            let (_, _, evicted) = admitted(&mut a, ip(2), t0 + s(i as u64), h);
            assert_eq!(evicted, None);
        }
        let (_, _, evicted) = admitted(&mut a, ip(3), t0 + s(5), "d");
        assert_eq!(evicted, Some(("a", s(5))));
        let (_, _, evicted) = admitted(&mut a, ip(3), t0 + s(6), "e");
        assert_eq!(evicted, Some(("b", s(5))));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn sockets_past_ecies_are_evicted_only_when_no_other_is_left() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let mut a = admission(3, 10);
        let (first, _, _) = admitted(&mut a, ip(2), t0, "honest");
        admitted(&mut a, ip(3), t0 + s(1), "idle-1");
        let (third, _, _) = admitted(&mut a, ip(3), t0 + s(2), "idle-2");
        a.authenticated(first);
        // Full: the oldest still in ECIES goes, not the older honest socket.
        let (fourth, _, evicted) = admitted(&mut a, ip(4), t0 + s(3), "idle-3");
        assert_eq!(evicted, Some(("idle-1", s(2))));
        let (_, _, evicted) = admitted(&mut a, ip(4), t0 + s(4), "idle-4");
        assert_eq!(evicted, Some(("idle-2", s(2))));
        // Every pending socket past ECIES: the oldest of them goes.
        a.authenticated(fourth);
        let (fifth, _, evicted) = admitted(&mut a, ip(5), t0 + s(5), "late");
        assert_eq!(evicted, Some(("idle-4", s(1))));
        a.authenticated(fifth);
        let (_, _, evicted) = admitted(&mut a, ip(6), t0 + s(6), "later");
        assert_eq!(evicted, Some(("honest", s(6))));
        // Authenticating a socket no longer pending changes nothing.
        a.authenticated(third);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn sockets_that_had_spoken_when_accepted_are_evicted_after_the_silent_ones() {
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let mut a = admission(3, 10);
        let mut admit = |at: u64, spoke: bool, handle: &'static str| match a.admit(
            ip(2),
            t0 + s(at),
            spoke,
            handle,
        ) {
            Admit::Admitted { id, evicted, .. } => (id, evicted.map(|e| e.handle)),
            Admit::Refused => panic!("{handle} refused"),
        };
        admit(0, true, "honest");
        admit(1, false, "idle-1");
        admit(2, false, "idle-2");
        // Full: the silent sockets go first, oldest first, though the honest one is older.
        assert_eq!(admit(3, false, "idle-3").1, Some("idle-1"));
        assert_eq!(admit(4, true, "talker").1, Some("idle-2"));
        assert_eq!(admit(5, false, "idle-4").1, Some("idle-3"));
        // The last silent socket goes; then, with none left, the oldest of those that spoke.
        assert_eq!(admit(6, true, "talker-2").1, Some("idle-4"));
        assert_eq!(admit(7, true, "talker-3").1, Some("honest"));
        assert_eq!(admit(8, true, "talker-4").1, Some("talker"));
    }

    #[test]
    fn eviction_frees_the_evicted_sockets_address_and_finish_of_it_is_a_no_op() {
        let t0 = Instant::now();
        let mut a = admission(2, 1);
        let (old, _, _) = admitted(&mut a, ip(2), t0, "a");
        admitted(&mut a, ip(3), t0, "b");
        let (_, _, evicted) = admitted(&mut a, ip(4), t0, "c");
        assert_eq!(evicted.map(|(h, _)| h), Some("a"));
        // 127.0.0.2 has no pending socket any more.
        let (_, _, evicted) = admitted(&mut a, ip(2), t0, "d");
        assert_eq!(evicted.map(|(h, _)| h), Some("b"));
        assert_eq!(a.finish(old), None);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn a_refused_socket_evicts_nothing() {
        let t0 = Instant::now();
        let mut a = admission(2, 1);
        admitted(&mut a, ip(2), t0, "a");
        admitted(&mut a, ip(3), t0, "b");
        assert!(matches!(a.admit(ip(3), t0, false, "c"), Admit::Refused));
        assert_eq!(a.len(), 2);
        let (_, _, evicted) = admitted(&mut a, ip(4), t0, "d");
        assert_eq!(evicted.map(|(h, _)| h), Some("a"));
    }

    #[test]
    fn the_deadline_is_short_once_more_than_half_the_set_is_taken() {
        let t0 = Instant::now();
        let mut a = admission(4, 8);
        let deadlines: Vec<_> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(|h| admitted(&mut a, ip(2), t0, h).1)
            .collect();
        // 0, 1 and 2 taken on arrival: long; 3 of 4 (and a full set): short.
        assert_eq!(deadlines, [LONG, LONG, LONG, SHORT, SHORT]);
    }
}
