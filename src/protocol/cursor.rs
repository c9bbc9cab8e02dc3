//! A bounds-checked big-endian reader over a byte slice: every read says what it was
//! reading when the input runs out.

use super::error::WireError;

pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated {
                what,
                need: n,
                have: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// A length that must not be negative.
    pub fn len_i32(&mut self, what: &'static str) -> Result<usize, WireError> {
        let len = self.i32(what)?;
        usize::try_from(len).map_err(|_| WireError::NegativeLength {
            what,
            len: len.into(),
        })
    }

    /// A length-prefixed UTF-8 string; `short` selects an i16 prefix instead of i32.
    pub fn string(&mut self, short: bool, what: &'static str) -> Result<&'a str, WireError> {
        let len = if short {
            let len = self.i16(what)?;
            usize::try_from(len).map_err(|_| WireError::NegativeLength {
                what,
                len: len.into(),
            })?
        } else {
            self.len_i32(what)?
        };
        let raw = self.bytes(len, what)?;
        std::str::from_utf8(raw).map_err(|_| WireError::InvalidUtf8 { what })
    }
}
