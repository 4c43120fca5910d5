//! A bounded RLP cursor for record decoding: every error names the list and field it hit.

use std::fmt;

use alloy_rlp::{Decodable, Header};
use bytes::Bytes;

use crate::RecordError;

/// A cursor over the payload of one RLP list, inside a shared buffer (so byte strings and raw
/// items are sliced out without copying).
pub(super) struct Cursor<'a> {
    /// The whole record, for zero-copy slicing.
    whole: &'a Bytes,
    /// The unread part of this list's payload.
    rest: &'a [u8],
    /// The list's name in error messages (`block_context`, `force_preimages[3]`, ...).
    path: &'static str,
}

impl<'a> Cursor<'a> {
    /// Enters the single list that `item` must be, with nothing after it.
    pub(super) fn top(item: &'a Bytes, path: &'static str) -> Result<Self, RecordError> {
        let mut rest = item.as_ref();
        let header = Header::decode(&mut rest).map_err(|e| fail(path, "header", e))?;
        if !header.list {
            return Err(fail(path, "header", "expected a list, got a byte string"));
        }
        if rest.len() != header.payload_length {
            return Err(fail(
                path,
                "header",
                format_args!(
                    "{} trailing bytes after the list",
                    rest.len() - header.payload_length
                ),
            ));
        }
        Ok(Self {
            whole: item,
            rest,
            path,
        })
    }

    /// An error at `field` of this list.
    pub(super) fn error(&self, field: &str, what: impl fmt::Display) -> RecordError {
        fail(self.path, field, what)
    }

    /// Whether the list has been read to its end.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes of the payload not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails unless the whole payload was read.
    pub(super) fn finish(self) -> Result<(), RecordError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.error(
                "end",
                format_args!("{} trailing bytes inside the list", self.rest.len()),
            ))
        }
    }

    fn require(&self, field: &str) -> Result<(), RecordError> {
        if self.rest.is_empty() {
            Err(self.error(field, "missing"))
        } else {
            Ok(())
        }
    }

    /// Enters the list at `field` and moves past it. `max_payload` is checked against the
    /// header before anything inside is read.
    pub(super) fn list(
        &mut self,
        field: &str,
        path: &'static str,
        max_payload: usize,
    ) -> Result<Self, RecordError> {
        self.require(field)?;
        let header = Header::decode(&mut self.rest).map_err(|e| self.error(field, e))?;
        if !header.list {
            return Err(self.error(field, "expected a list, got a byte string"));
        }
        if header.payload_length > max_payload {
            return Err(self.error(
                field,
                format_args!(
                    "list of {} bytes exceeds the {max_payload} bytes it may take",
                    header.payload_length
                ),
            ));
        }
        // `Header::decode` checked that the payload is there.
        let (payload, rest) = self.rest.split_at(header.payload_length);
        self.rest = rest;
        Ok(Self {
            whole: self.whole,
            rest: payload,
            path,
        })
    }

    /// Reads a canonical RLP value (an integer, a [`U256`](super::U256), a fixed array).
    pub(super) fn value<T: Decodable>(&mut self, field: &str) -> Result<T, RecordError> {
        self.require(field)?;
        T::decode(&mut self.rest).map_err(|e| self.error(field, e))
    }

    /// Reads a byte string of any length (bounded by the list it sits in).
    pub(super) fn bytes(&mut self, field: &str) -> Result<Bytes, RecordError> {
        self.require(field)?;
        let payload =
            Header::decode_bytes(&mut self.rest, false).map_err(|e| self.error(field, e))?;
        Ok(self.whole.slice_ref(payload))
    }

    /// Slices out the next complete RLP item, header included, whatever its type.
    pub(super) fn raw_item(&mut self, field: &str) -> Result<Bytes, RecordError> {
        self.require(field)?;
        let len = item_len(self.rest).map_err(|e| self.error(field, e))?;
        let (item, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(self.whole.slice_ref(item))
    }

    /// Counts the items left in this list without reading into them, stopping as soon as the
    /// count passes `max` (so a huge list costs no more than `max + 1` header reads).
    pub(super) fn count_items(&self, field: &str, max: usize) -> Result<usize, RecordError> {
        let mut rest = self.rest;
        let mut count = 0;
        while !rest.is_empty() && count <= max {
            let len = item_len(rest).map_err(|e| self.error(field, e))?;
            rest = rest.get(len..).unwrap_or_default();
            count += 1;
        }
        Ok(count)
    }
}

/// Length of the RLP item at the start of `buf`, header included; checks it is all there.
fn item_len(buf: &[u8]) -> alloy_rlp::Result<usize> {
    let mut probe = buf;
    let header = Header::decode(&mut probe)?;
    // A single byte below 0x80 is its own payload: the header consumed nothing.
    Ok(buf.len() - probe.len() + header.payload_length)
}

fn fail(path: &str, field: &str, what: impl fmt::Display) -> RecordError {
    RecordError::new(format_args!("{path}.{field}: {what}"))
}
