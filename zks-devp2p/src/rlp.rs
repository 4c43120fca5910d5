//! Small RLP helpers over `alloy-rlp` headers: read items by hand so that trailing data and
//! extra list elements can be tolerated where EIP-8 requires it.

use alloy_rlp::{BufMut, Header};

/// One RLP item: whether it is a list and its payload (for a single byte below `0x80`, the byte).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item<'a> {
    pub(crate) list: bool,
    pub(crate) payload: &'a [u8],
    /// The whole encoding, header included.
    pub(crate) raw: &'a [u8],
}

/// Reads the next item from `buf` and advances past it.
pub(crate) fn next_item<'a>(buf: &mut &'a [u8]) -> Result<Item<'a>, &'static str> {
    let start: &'a [u8] = buf;
    let mut cursor: &'a [u8] = buf;
    let header = Header::decode(&mut cursor).map_err(|_| "bad rlp header")?;
    let header_len = start.len() - cursor.len();
    let payload = cursor
        .get(..header.payload_length)
        .ok_or("rlp item exceeds input")?;
    let total = header_len + header.payload_length;
    let raw = start.get(..total).ok_or("rlp item exceeds input")?;
    *buf = start.get(total..).ok_or("rlp item exceeds input")?;
    Ok(Item {
        list: header.list,
        payload,
        raw,
    })
}

/// Reads a string item.
pub(crate) fn next_string<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], &'static str> {
    let item = next_item(buf)?;
    if item.list {
        return Err("expected a string, got a list");
    }
    Ok(item.payload)
}

/// Reads a string of exactly `N` bytes.
pub(crate) fn next_fixed<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], &'static str> {
    <[u8; N]>::try_from(next_string(buf)?).map_err(|_| "wrong field length")
}

/// Reads a list item and returns its payload.
pub(crate) fn next_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], &'static str> {
    let item = next_item(buf)?;
    if !item.list {
        return Err("expected a list, got a string");
    }
    Ok(item.payload)
}

/// Reads an unsigned integer leniently: leading zero bytes are tolerated and values wider than
/// 64 bits saturate (EIP-8: version fields must be accepted whatever they hold).
pub(crate) fn next_uint_lenient(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let bytes = next_string(buf)?;
    let significant = bytes
        .iter()
        .position(|b| *b != 0)
        .map_or(&[][..], |i| bytes.get(i..).unwrap_or(&[]));
    if significant.len() > 8 {
        return Ok(u64::MAX);
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Encodes a string item.
pub(crate) fn put_string(out: &mut dyn BufMut, bytes: &[u8]) {
    if let [b] = bytes
        && *b < 0x80
    {
        out.put_u8(*b);
        return;
    }
    Header {
        list: false,
        payload_length: bytes.len(),
    }
    .encode(out);
    out.put_slice(bytes);
}

/// Encodes an unsigned integer item.
pub(crate) fn put_uint(out: &mut dyn BufMut, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    put_string(out, bytes.get(skip..).unwrap_or(&[]));
}

/// The encoded length of a string item.
pub(crate) fn string_len(bytes: &[u8]) -> usize {
    match bytes {
        [b] if *b < 0x80 => 1,
        _ => {
            Header {
                list: false,
                payload_length: bytes.len(),
            }
            .length()
                + bytes.len()
        }
    }
}

/// The encoded length of an unsigned integer item.
pub(crate) fn uint_len(value: u64) -> usize {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    string_len(bytes.get(skip..).unwrap_or(&[]))
}

/// Encodes a list header for a payload of `payload_length` bytes.
pub(crate) fn put_list_header(out: &mut dyn BufMut, payload_length: usize) {
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_strings() {
        let mut out = Vec::new();
        put_uint(&mut out, 0);
        put_uint(&mut out, 5);
        put_uint(&mut out, 0x80);
        put_string(&mut out, b"zks");
        assert_eq!(out, [0x80, 0x05, 0x81, 0x80, 0x83, b'z', b'k', b's']);
        let mut buf = &out[..];
        assert_eq!(next_uint_lenient(&mut buf), Ok(0));
        assert_eq!(next_uint_lenient(&mut buf), Ok(5));
        assert_eq!(next_uint_lenient(&mut buf), Ok(0x80));
        assert_eq!(next_string(&mut buf), Ok(&b"zks"[..]));
        assert!(buf.is_empty());
        assert_eq!(uint_len(0x80), 2);
        assert_eq!(string_len(&[0u8; 64]), 66);
    }

    #[test]
    fn rejects_truncated() {
        let mut buf = &[0x83u8, 1, 2][..];
        assert!(next_item(&mut buf).is_err());
        let mut buf = &[0xf8u8, 0x40, 1][..];
        assert!(next_item(&mut buf).is_err());
    }
}
