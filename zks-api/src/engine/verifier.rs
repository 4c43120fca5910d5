//! Where a link's verifier messages travel, and the rules they follow there.
//!
//! The five verifier messages are the same payloads in both generations
//! ([`TwoFaMessage`] is their common form): the seed generation carries them in-band on zks/3,
//! upstream's zks/4 in-band too, and the current generation on `zks_2fa` beside zks/5. The
//! session logic is written once against [`TwoFaMessage`]; a [`VerifierChannel`] decodes and
//! encodes them for the link.

use std::time::{Duration, Instant};

use super::ProtocolError;
use crate::wire::{Frame, LinkCaps, TwoFaMessage, TwoFaVersion, ZksMessage, ZksVersion};

/// Which subprotocol carries a link's verifier messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifierChannel {
    /// In-band on zks/3 or zks/4, at ids `0x02..=0x06`.
    InBand(ZksVersion),
    /// On `zks_2fa`, at ids `0x00..=0x04` of its own capability.
    TwoFa(TwoFaVersion),
}

impl VerifierChannel {
    /// The channel of a link that negotiated `caps`; `None` when it carries no verification
    /// (zks/1–2, or zks/5 without `zks_2fa`). zks/3–4 keep verification in-band even when
    /// `zks_2fa` was negotiated beside them, and `zks_2fa` serves only beside zks/5.
    pub const fn for_link(caps: LinkCaps) -> Option<Self> {
        if caps.zks.supports_verification() {
            return Some(Self::InBand(caps.zks));
        }
        match caps.zks_2fa {
            Some(v) if caps.zks.number() >= ZksVersion::V5.number() => Some(Self::TwoFa(v)),
            _ => None,
        }
    }

    /// Whether the current generation's rules apply (zks/4 and `zks_2fa`), rather than the
    /// seed's (zks/3). Under the current rules a role request may be repeated (each one gets a
    /// fresh challenge and demotes the peer until it answers), a malformed signature makes the
    /// peer unauthorized instead of ending the link, and a result from a peer that is not
    /// authorized is dropped instead of ending the link.
    pub const fn current_rules(self) -> bool {
        !matches!(self, Self::InBand(ZksVersion::V3))
    }

    /// The frame carrying `message` on this channel.
    pub fn frame(self, message: TwoFaMessage) -> Frame {
        match self {
            Self::InBand(_) => ZksMessage::from(message).to_frame(),
            Self::TwoFa(_) => message.to_frame(),
        }
    }

    /// Decodes a `zks_2fa` frame; in-band frames are decoded with the zks message they arrive in.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::NotNegotiated`] when this link does not carry `zks_2fa`, or the decode
    /// error.
    pub(crate) fn decode_2fa(
        channel: Option<Self>,
        frame: &Frame,
    ) -> Result<TwoFaMessage, ProtocolError> {
        match channel {
            Some(Self::TwoFa(version)) => Ok(TwoFaMessage::decode(version, frame)?),
            _ => Err(ProtocolError::NotNegotiated {
                protocol: frame.protocol,
            }),
        }
    }
}

/// The unexpected-message error for a verifier message on `channel`, named by the id it came with.
pub(crate) fn unexpected(
    channel: Option<VerifierChannel>,
    message: &TwoFaMessage,
) -> ProtocolError {
    match channel {
        Some(VerifierChannel::TwoFa(_)) => {
            ProtocolError::UnexpectedTwoFaMessage { id: message.id() }
        }
        _ => ProtocolError::UnexpectedMessage {
            id: ZksMessage::from(message.clone()).id(),
        },
    }
}

/// How many role requests a link may send in a burst under the current rules.
pub const ROLE_REQUEST_BURST: u32 = 4;

/// How often a link regains one role request, up to the burst.
pub const ROLE_REQUEST_REFILL: Duration = Duration::from_secs(10);

/// A token bucket over role requests: an honest verifier sends one per link, so a peer that
/// sends more than [`ROLE_REQUEST_BURST`] within a few refill periods is flooding (each request
/// costs us a nonce from the OS and a challenge frame).
#[derive(Clone, Debug)]
pub(crate) struct RoleRequestLimit {
    tokens: u32,
    refilled_at: Instant,
}

impl RoleRequestLimit {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            tokens: ROLE_REQUEST_BURST,
            refilled_at: now,
        }
    }

    /// Takes one request at `now`; `false` when the link is over its rate.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let periods = elapsed.as_nanos() / ROLE_REQUEST_REFILL.as_nanos();
        if periods > 0 {
            let gained = u32::try_from(periods).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(gained).min(ROLE_REQUEST_BURST);
            // Keep the remainder so the refill rate is exact.
            let periods = u32::try_from(periods).unwrap_or(u32::MAX);
            self.refilled_at = if self.tokens == ROLE_REQUEST_BURST {
                now
            } else {
                self.refilled_at + ROLE_REQUEST_REFILL * periods
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::t0;
    use crate::wire::{MessageId, Protocol, TwoFaMessageId, VerifierChallenge};

    #[test]
    fn channel_per_link() {
        let caps = |zks, zks_2fa| LinkCaps { zks, zks_2fa };
        let v1 = Some(TwoFaVersion::V1);
        assert_eq!(VerifierChannel::for_link(caps(ZksVersion::V2, None)), None);
        assert_eq!(VerifierChannel::for_link(caps(ZksVersion::V2, v1)), None);
        assert_eq!(VerifierChannel::for_link(caps(ZksVersion::V5, None)), None);
        assert_eq!(
            VerifierChannel::for_link(caps(ZksVersion::V3, v1)),
            Some(VerifierChannel::InBand(ZksVersion::V3))
        );
        assert_eq!(
            VerifierChannel::for_link(caps(ZksVersion::V4, None)),
            Some(VerifierChannel::InBand(ZksVersion::V4))
        );
        assert_eq!(
            VerifierChannel::for_link(caps(ZksVersion::V5, v1)),
            Some(VerifierChannel::TwoFa(TwoFaVersion::V1))
        );
        assert!(!VerifierChannel::InBand(ZksVersion::V3).current_rules());
        assert!(VerifierChannel::InBand(ZksVersion::V4).current_rules());
        assert!(VerifierChannel::TwoFa(TwoFaVersion::V1).current_rules());
    }

    #[test]
    fn frames_per_channel() {
        let challenge = TwoFaMessage::VerifierChallenge(VerifierChallenge { nonce: [1; 32] });
        let in_band = VerifierChannel::InBand(ZksVersion::V3).frame(challenge.clone());
        assert_eq!(
            (in_band.protocol, in_band.id),
            (Protocol::Zks, MessageId::VerifierChallenge as u8)
        );
        let two_fa = VerifierChannel::TwoFa(TwoFaVersion::V1).frame(challenge.clone());
        assert_eq!(
            (two_fa.protocol, two_fa.id),
            (Protocol::Zks2fa, TwoFaMessageId::VerifierChallenge as u8)
        );
        assert_eq!(in_band.body, two_fa.body);
        assert_eq!(
            VerifierChannel::decode_2fa(Some(VerifierChannel::InBand(ZksVersion::V3)), &two_fa),
            Err(ProtocolError::NotNegotiated {
                protocol: Protocol::Zks2fa
            })
        );
        assert_eq!(
            VerifierChannel::decode_2fa(Some(VerifierChannel::TwoFa(TwoFaVersion::V1)), &two_fa),
            Ok(challenge)
        );
    }

    #[test]
    fn role_requests_are_rate_limited() {
        let mut limit = RoleRequestLimit::new(t0());
        for _ in 0..ROLE_REQUEST_BURST {
            assert!(limit.take(t0()));
        }
        assert!(!limit.take(t0()));
        assert!(!limit.take(t0() + ROLE_REQUEST_REFILL / 2));
        assert!(limit.take(t0() + ROLE_REQUEST_REFILL));
        assert!(!limit.take(t0() + ROLE_REQUEST_REFILL));
        // A long quiet spell refills the burst, never more.
        let later = t0() + ROLE_REQUEST_REFILL * 100;
        for _ in 0..ROLE_REQUEST_BURST {
            assert!(limit.take(later));
        }
        assert!(!limit.take(later));
    }
}
