//! Order-preserving key encoding for the typed key spaces: byte order of an encoded key equals the
//! order of the key it encodes, component by component, so prefix scans and ranges work on tuples.
//!
//! Strings are written with `0x00` escaped as `0x00 0xFF` and end with a single `0x00`; `u64` is
//! eight big-endian bytes; a tuple is its components in sequence.

use thiserror::Error;

/// A key that could not be decoded: the stored bytes do not match the key space's key type.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed key: {0}")]
pub struct KeyDecodeError(pub &'static str);

/// A key type of a key space.
pub trait KeyCodec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
    /// Reads one value from the front of `input`, advancing it.
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError>;

    /// The encoding of `self` as a fresh buffer.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decodes a whole key; trailing bytes are an error.
    fn decode(mut input: &[u8]) -> Result<Self, KeyDecodeError> {
        let key = Self::decode_from(&mut input)?;
        if !input.is_empty() {
            return Err(KeyDecodeError("trailing bytes"));
        }
        Ok(key)
    }
}

impl KeyCodec for () {
    fn encode_into(&self, _out: &mut Vec<u8>) {}
    fn decode_from(_input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        Ok(())
    }
}

impl KeyCodec for u64 {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        let (head, rest) = input.split_at_checked(8).ok_or(KeyDecodeError("short u64"))?;
        *input = rest;
        Ok(u64::from_be_bytes(head.try_into().expect("8 bytes")))
    }
}

impl KeyCodec for String {
    fn encode_into(&self, out: &mut Vec<u8>) {
        for &b in self.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(0xFF);
            }
        }
        out.push(0);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        let mut bytes = Vec::new();
        let mut i = 0;
        loop {
            match input.get(i) {
                None => return Err(KeyDecodeError("unterminated string")),
                Some(0) if input.get(i + 1) == Some(&0xFF) => {
                    bytes.push(0);
                    i += 2;
                }
                Some(0) => {
                    i += 1;
                    break;
                }
                Some(&b) => {
                    bytes.push(b);
                    i += 1;
                }
            }
        }
        *input = &input[i..];
        String::from_utf8(bytes).map_err(|_| KeyDecodeError("string is not UTF-8"))
    }
}

impl<A: KeyCodec, B: KeyCodec> KeyCodec for (A, B) {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.0.encode_into(out);
        self.1.encode_into(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        Ok((A::decode_from(input)?, B::decode_from(input)?))
    }
}

impl<A: KeyCodec, B: KeyCodec, C: KeyCodec> KeyCodec for (A, B, C) {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.0.encode_into(out);
        self.1.encode_into(out);
        self.2.encode_into(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        Ok((A::decode_from(input)?, B::decode_from(input)?, C::decode_from(input)?))
    }
}

impl<A: KeyCodec, B: KeyCodec, C: KeyCodec, D: KeyCodec> KeyCodec for (A, B, C, D) {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.0.encode_into(out);
        self.1.encode_into(out);
        self.2.encode_into(out);
        self.3.encode_into(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, KeyDecodeError> {
        Ok((A::decode_from(input)?, B::decode_from(input)?, C::decode_from(input)?, D::decode_from(input)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn t10_string_order_is_byte_order() {
        let mut keys = vec![s("b"), s("a\0b"), s("a"), s(""), s("ab"), s("a\0"), s("\u{ff}")];
        let mut encoded: Vec<Vec<u8>> = keys.iter().map(|k| k.encode()).collect();
        keys.sort();
        encoded.sort();
        let decoded: Vec<String> = encoded.iter().map(|e| String::decode(e).unwrap()).collect();
        assert_eq!(keys, decoded);
    }

    #[test]
    fn t20_tuple_order_and_prefix() {
        let mut keys = vec![(s("task"), s("src-2")), (s("task"), s("src-10")), (s("t"), s("zz")), (s("task2"), s(""))];
        let mut encoded: Vec<Vec<u8>> = keys.iter().map(|k| k.encode()).collect();
        keys.sort();
        encoded.sort();
        let decoded: Vec<(String, String)> = encoded.iter().map(|e| <(String, String)>::decode(e).unwrap()).collect();
        assert_eq!(keys, decoded);
        // The first component alone is a prefix of exactly its own tuples.
        let prefix = s("task").encode();
        let n = encoded.iter().filter(|e| e.starts_with(&prefix)).count();
        assert_eq!(n, 2);
    }

    #[test]
    fn t30_u64_and_errors() {
        let mut v = vec![7u64, 0, u64::MAX, 256];
        let mut enc: Vec<Vec<u8>> = v.iter().map(|k| k.encode()).collect();
        v.sort();
        enc.sort();
        assert_eq!(v, enc.iter().map(|e| u64::decode(e).unwrap()).collect::<Vec<_>>());
        assert!(u64::decode(&[1, 2]).is_err());
        assert!(String::decode(b"abc").is_err());
        assert!(String::decode(b"a\0x").is_err());
    }
}
