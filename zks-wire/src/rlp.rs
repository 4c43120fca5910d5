//! Small, bounded RLP reading helpers over `Bytes`, so items can be sliced without copying.

use alloy_rlp::{Decodable, Header};
use bytes::Bytes;

use super::DecodeError;

/// A size limit for one item and the error that reports it (`size`, `max`).
#[derive(Clone, Copy)]
pub(crate) struct Limit {
    pub(crate) max: usize,
    pub(crate) error: fn(usize, usize) -> DecodeError,
}

impl Limit {
    fn check(limit: Option<Self>, size: usize) -> Result<(), DecodeError> {
        match limit {
            Some(l) if size > l.max => Err((l.error)(size, l.max)),
            _ => Ok(()),
        }
    }
}

/// A cursor over an RLP payload held in a shared buffer.
pub(crate) struct Reader<'a> {
    /// The whole buffer the cursor reads from (for zero-copy slicing).
    whole: &'a Bytes,
    /// The unread part; always a suffix of a range of `whole`.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(whole: &'a Bytes) -> Self {
        Self {
            whole,
            rest: whole.as_ref(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self, context: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                context,
                count: self.rest.len(),
            })
        }
    }

    fn require(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Err(DecodeError::MissingField(field))
        } else {
            Ok(())
        }
    }

    /// Enters a list: returns a reader over its payload and advances past it.
    ///
    /// `max_payload` is checked against the header before the caller touches any item.
    pub(crate) fn list(
        &mut self,
        field: &'static str,
        limit: Option<Limit>,
    ) -> Result<Self, DecodeError> {
        self.require(field)?;
        let header = Header::decode(&mut self.rest)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString.into());
        }
        Limit::check(limit, header.payload_length)?;
        let (payload, rest) = self.rest.split_at(header.payload_length);
        self.rest = rest;
        Ok(Self {
            whole: self.whole,
            rest: payload,
        })
    }

    /// Reads a byte string, checking its length against `limit` before slicing it out.
    pub(crate) fn bytes(
        &mut self,
        field: &'static str,
        limit: Option<Limit>,
    ) -> Result<Bytes, DecodeError> {
        self.require(field)?;
        let mut probe = self.rest;
        let header = Header::decode(&mut probe)?;
        if header.list {
            return Err(alloy_rlp::Error::UnexpectedList.into());
        }
        Limit::check(limit, header.payload_length)?;
        let payload = Header::decode_bytes(&mut self.rest, false)?;
        Ok(self.whole.slice_ref(payload))
    }

    /// Reads a byte string of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.require(field)?;
        let payload = Header::decode_bytes(&mut self.rest, false)?;
        payload.try_into().map_err(|_| DecodeError::WrongLength {
            field,
            expected: N,
            got: payload.len(),
        })
    }

    /// Consumes an empty string (`0x80`) if it comes next; tells whether it did.
    pub(crate) fn skip_empty_string(&mut self) -> bool {
        match self.rest.split_first() {
            Some((&alloy_rlp::EMPTY_STRING_CODE, rest)) => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Reads a canonical RLP value of type `T` (integers, mostly).
    pub(crate) fn value<T: Decodable>(&mut self, field: &'static str) -> Result<T, DecodeError> {
        self.require(field)?;
        Ok(T::decode(&mut self.rest)?)
    }

    /// Slices out one complete RLP item (header included), whatever its type.
    pub(crate) fn raw_item(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        self.require(field)?;
        let start = self.rest;
        let mut probe = self.rest;
        let header = Header::decode(&mut probe)?;
        // A single byte below 0x80 is its own payload: the header consumed nothing.
        let header_len = start.len() - probe.len();
        let total = header_len + header.payload_length;
        let (item, rest) = start.split_at(total);
        self.rest = rest;
        Ok(self.whole.slice_ref(item))
    }
}

/// Length of an RLP list header for a payload of `payload_length` bytes.
pub(crate) fn list_header(payload_length: usize) -> Header {
    Header {
        list: true,
        payload_length,
    }
}
