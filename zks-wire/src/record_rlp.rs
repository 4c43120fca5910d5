//! RLP helpers for record authors: write a record as one list of fields, and read it back
//! field by field with errors that name the field.
//!
//! A [`ReplayRecord`](crate::ReplayRecord) must encode to exactly one RLP item and decode from
//! bytes that came off the network. Most records are a list of fields; these two helpers cover
//! that shape without hand-written headers:
//!
//! ```
//! use zks_wire::record_rlp::{Fields, encode_fields};
//! use zks_wire::{BlockNumber, Bytes, RecordError};
//!
//! struct MyRecord {
//!     block: BlockNumber,
//!     timestamp: u64,
//!     body: Bytes,
//! }
//!
//! impl MyRecord {
//!     fn encode(&self, out: &mut Vec<u8>) {
//!         encode_fields(&[&self.block, &self.timestamp, &self.body], out);
//!     }
//!
//!     fn decode(item: &Bytes) -> Result<Self, RecordError> {
//!         let mut fields = Fields::new(item)?;
//!         let record = Self {
//!             block: fields.value("block")?,
//!             timestamp: fields.value("timestamp")?,
//!             body: fields.bytes("body")?, // a slice of `item`, not a copy
//!         };
//!         fields.finish()?;
//!         Ok(record)
//!     }
//! }
//!
//! let record = MyRecord { block: 7, timestamp: 1_700_000_000, body: Bytes::from_static(b"tx") };
//! let mut item = Vec::new();
//! record.encode(&mut item);
//! let back = MyRecord::decode(&Bytes::from(item))?;
//! assert_eq!((back.block, back.timestamp, &back.body[..]), (7, 1_700_000_000, &b"tx"[..]));
//! # Ok::<(), RecordError>(())
//! ```

use alloy_rlp::{Decodable, Encodable, Header};
use bytes::Bytes;

use crate::RecordError;

/// Appends `[fields...]`: one list header, then each field's encoding.
pub fn encode_fields(fields: &[&dyn Encodable], out: &mut Vec<u8>) {
    let payload_length = fields.iter().map(|f| f.length()).sum();
    let header = Header {
        list: true,
        payload_length,
    };
    out.reserve(header.length_with_payload());
    header.encode(out);
    for field in fields {
        field.encode(out);
    }
}

/// Reads the fields of one record item in order. Every read checks the field's RLP header
/// against what is left before it allocates, and every error names the field.
#[derive(Debug)]
pub struct Fields<'a> {
    item: &'a Bytes,
    /// What is left of the list's payload.
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Opens `item`, which must be exactly one RLP list.
    ///
    /// # Errors
    ///
    /// [`RecordError`] when `item` is not a list, is cut short, or has bytes after the list.
    pub fn new(item: &'a Bytes) -> Result<Self, RecordError> {
        let mut buf = item.as_ref();
        let header = Header::decode(&mut buf)?;
        if !header.list {
            return Err(RecordError::new("record is not an RLP list"));
        }
        let rest = buf
            .get(..header.payload_length)
            .ok_or(alloy_rlp::Error::InputTooShort)?;
        if buf.len() != header.payload_length {
            return Err(RecordError::new("trailing bytes after the record's list"));
        }
        Ok(Self { item, rest })
    }

    /// The next field, decoded as `T` (integers must be canonical).
    ///
    /// # Errors
    ///
    /// [`RecordError`] naming `field` when it is missing or malformed.
    pub fn value<T: Decodable>(&mut self, field: &'static str) -> Result<T, RecordError> {
        if self.rest.is_empty() {
            return Err(RecordError::new(format!("missing field {field}")));
        }
        T::decode(&mut self.rest).map_err(|e| RecordError::new(format!("field {field}: {e}")))
    }

    /// The next field as a byte string, sliced out of the item without copying.
    ///
    /// # Errors
    ///
    /// [`RecordError`] naming `field` when it is missing or not a byte string.
    pub fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        if self.rest.is_empty() {
            return Err(RecordError::new(format!("missing field {field}")));
        }
        let bytes = Header::decode_bytes(&mut self.rest, false)
            .map_err(|e| RecordError::new(format!("field {field}: {e}")))?;
        Ok(self.item.slice_ref(bytes))
    }

    /// Whether every field was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Ends the read: fields the reader did not consume are an error (a record of another
    /// layout, or of a newer version).
    ///
    /// # Errors
    ///
    /// [`RecordError`] when fields are left.
    pub fn finish(self) -> Result<(), RecordError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(RecordError::new(format!(
                "{} bytes of unexpected fields after the last one",
                self.rest.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(hex: &str) -> Bytes {
        Bytes::from(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn writes_and_reads_mixed_fields() {
        let mut out = Vec::new();
        encode_fields(
            &[&5u64, &Bytes::from_static(&[0xaa, 0xbb]), &0u64],
            &mut out,
        );
        assert_eq!(out, [0xc5, 0x05, 0x82, 0xaa, 0xbb, 0x80]);
        let bytes = Bytes::from(out);
        let mut fields = Fields::new(&bytes).unwrap();
        assert_eq!(fields.value::<u64>("a").unwrap(), 5);
        let b = fields.bytes("b").unwrap();
        assert_eq!(&b[..], [0xaa, 0xbb]);
        assert_eq!(b.as_ptr(), bytes[3..].as_ptr(), "sliced, not copied");
        assert_eq!(fields.value::<u64>("c").unwrap(), 0);
        assert!(fields.is_empty());
        fields.finish().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let short = item("c105");
        let mut fields = Fields::new(&short).unwrap();
        fields.value::<u64>("block").unwrap();
        let err = fields.value::<u64>("timestamp").unwrap_err();
        assert!(err.to_string().contains("missing field timestamp"), "{err}");

        let non_canonical = item("c20005");
        let mut fields = Fields::new(&non_canonical).unwrap();
        let err = fields.value::<u64>("block").unwrap_err();
        assert!(err.to_string().contains("field block"), "{err}");

        let extra = item("c20506");
        let mut fields = Fields::new(&extra).unwrap();
        fields.value::<u64>("block").unwrap();
        assert!(fields.finish().is_err());

        assert!(Fields::new(&item("05")).is_err(), "not a list");
        assert!(Fields::new(&item("c40506")).is_err(), "cut short");
        assert!(Fields::new(&item("c10500")).is_err(), "trailing bytes");
    }
}
