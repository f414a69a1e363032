//! Gzip decoding (RFC 1952, any number of members one after another) for the framing, that
//! hands out **every byte decodable before an error**.
//!
//! `flate2`'s `MultiGzDecoder` drops the output of the inflate call that meets a corrupt block
//! (its `read` returns the error, not the bytes written before it), so how much of a corrupt
//! stream came out depended on how much compressed input the decoder had at hand: nothing of a
//! 150 KB prefix read from a file, nearly all of it from a pipe. This decoder returns those
//! bytes first and the error on the next read, so the output of a corrupt or cut stream is
//! everything before the fault, whatever the read sizes.
//!
//! Errors: a stream that ends early (in a header, the deflate data or a trailer) is
//! [`io::ErrorKind::UnexpectedEof`]; a bad header, corrupt deflate data, a checksum or length
//! mismatch, or bytes after a member that do not start another one are
//! [`io::ErrorKind::InvalidData`]; an error of the source is passed on as it is.

use std::io::{self, BufRead, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};

/// The longest file name or comment in a member header (as `flate2`).
const MAX_HEADER_FIELD: usize = 0xFFFF;

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xE0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a member's header.
    Header,
    /// In a member's deflate data.
    Body,
    /// At a member's 8-byte trailer.
    Trailer,
    /// After the last member.
    End,
    /// An error was returned: nothing more comes out.
    Failed,
}

/// A gzip decoder over a [`BufRead`] of the compressed bytes.
pub(crate) struct GzipDecoder<R> {
    src: R,
    inflate: Decompress,
    crc: Crc,
    state: State,
    /// An error met after some output: returned by the next read.
    pending: Option<io::Error>,
}

impl<R: BufRead> GzipDecoder<R> {
    pub(crate) fn new(src: R) -> Self {
        Self { src, inflate: Decompress::new(false), crc: Crc::new(), state: State::Header, pending: None }
    }

    /// The source (its buffer holds the compressed bytes read but not yet decoded).
    pub(crate) fn get_ref(&self) -> &R {
        &self.src
    }

    fn fail(&mut self, e: io::Error) -> io::Result<usize> {
        self.state = State::Failed;
        Err(e)
    }

    /// Fills `out` from the source; the end of the source is `UnexpectedEof`.
    fn exact(&mut self, out: &mut [u8]) -> io::Result<()> {
        let mut got = 0;
        while got < out.len() {
            let data = self.src.fill_buf()?;
            if data.is_empty() {
                return Err(cut("gzip stream ends inside a member header or trailer"));
            }
            let n = data.len().min(out.len() - got);
            out[got..got + n].copy_from_slice(&data[..n]);
            self.src.consume(n);
            got += n;
        }
        Ok(())
    }

    /// Skips `n` bytes of the source (a header's extra field).
    fn skip(&mut self, mut n: usize, crc: &mut Crc) -> io::Result<()> {
        while n > 0 {
            let data = self.src.fill_buf()?;
            if data.is_empty() {
                return Err(cut("gzip stream ends inside a member header"));
            }
            let k = data.len().min(n);
            crc.update(&data[..k]);
            self.src.consume(k);
            n -= k;
        }
        Ok(())
    }

    /// Skips a zero-terminated header field (file name, comment).
    fn skip_field(&mut self, crc: &mut Crc) -> io::Result<()> {
        let mut len = 0;
        loop {
            let data = self.src.fill_buf()?;
            if data.is_empty() {
                return Err(cut("gzip stream ends inside a member header"));
            }
            let (k, done) = match memchr::memchr(0, data) {
                Some(i) => (i + 1, true),
                None => (data.len(), false),
            };
            crc.update(&data[..k]);
            self.src.consume(k);
            len += k;
            if len > MAX_HEADER_FIELD + 1 {
                return Err(corrupt("gzip header field too long"));
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Reads a member header.
    fn header(&mut self) -> io::Result<()> {
        let mut fixed = [0u8; 10];
        self.exact(&mut fixed)?;
        if fixed[..3] != [0x1f, 0x8b, 8] || fixed[3] & FRESERVED != 0 {
            return Err(corrupt("invalid gzip header"));
        }
        let flags = fixed[3];
        let mut crc = Crc::new();
        crc.update(&fixed);
        if flags & FEXTRA != 0 {
            let mut xlen = [0u8; 2];
            self.exact(&mut xlen)?;
            crc.update(&xlen);
            self.skip(usize::from(u16::from_le_bytes(xlen)), &mut crc)?;
        }
        if flags & FNAME != 0 {
            self.skip_field(&mut crc)?;
        }
        if flags & FCOMMENT != 0 {
            self.skip_field(&mut crc)?;
        }
        if flags & FHCRC != 0 {
            let mut stored = [0u8; 2];
            self.exact(&mut stored)?;
            if u16::from_le_bytes(stored) != crc.sum() as u16 {
                return Err(corrupt("gzip header checksum mismatch"));
            }
        }
        Ok(())
    }

    /// Reads a member trailer and checks it against what came out.
    fn trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        self.exact(&mut t)?;
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() || len != self.crc.amount() {
            return Err(corrupt("corrupt gzip stream does not have a matching checksum"));
        }
        Ok(())
    }

    /// Inflates into `dst` (not empty): the bytes written, and whether the member's deflate
    /// data ended.
    fn body(&mut self, dst: &mut [u8]) -> io::Result<(usize, bool)> {
        loop {
            let data = self.src.fill_buf()?;
            let eof = data.is_empty();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let flush = if eof { FlushDecompress::Finish } else { FlushDecompress::None };
            let status = self.inflate.decompress(data, dst, flush);
            let consumed = (self.inflate.total_in() - in_before) as usize;
            let written = (self.inflate.total_out() - out_before) as usize;
            self.src.consume(consumed);
            self.crc.update(&dst[..written]);
            match status {
                Err(e) => {
                    let e = corrupt(&format!("corrupt deflate stream: {e}"));
                    if written == 0 {
                        return Err(e);
                    }
                    // The bytes decoded before the bad block are good: they go out first.
                    self.pending = Some(e);
                    return Ok((written, false));
                }
                Ok(Status::StreamEnd) => return Ok((written, true)),
                Ok(Status::Ok | Status::BufError) => {
                    if written > 0 {
                        return Ok((written, false));
                    }
                    if eof {
                        return Err(cut("gzip stream ends inside the deflate data"));
                    }
                    if consumed == 0 {
                        // Input at hand, room for output, and no progress: never loop on it.
                        return Err(corrupt("deflate stream makes no progress"));
                    }
                }
            }
        }
    }
}

impl<R: BufRead> Read for GzipDecoder<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return self.fail(e);
        }
        loop {
            let step = match self.state {
                State::Header => self.header().map(|()| State::Body),
                State::Body => {
                    if dst.is_empty() {
                        return Ok(0);
                    }
                    match self.body(dst) {
                        Ok((n, ended)) => {
                            if ended {
                                self.state = State::Trailer;
                            }
                            if n > 0 {
                                return Ok(n);
                            }
                            Ok(self.state)
                        }
                        Err(e) => Err(e),
                    }
                }
                State::Trailer => self.trailer().and_then(|()| {
                    // Another member follows unless the source ends here.
                    if self.src.fill_buf()?.is_empty() {
                        return Ok(State::End);
                    }
                    self.inflate.reset(false);
                    self.crc.reset();
                    Ok(State::Header)
                }),
                State::End => return Ok(0),
                State::Failed => return Err(corrupt("gzip stream already failed")),
            };
            match step {
                Ok(next) => self.state = next,
                Err(e) => return self.fail(e),
            }
        }
    }
}

fn cut(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_string())
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Write as _};

    use flate2::{Compression, GzBuilder};

    use super::*;

    /// Decodes `gz` fed in reads of `size` bytes: what came out, and the error if any.
    fn decode(gz: &[u8], size: usize) -> (Vec<u8>, Option<io::Error>) {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(self.1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut dec = GzipDecoder::new(BufReader::with_capacity(1 << 16, Pieces(gz, size)));
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 1000];
        loop {
            match dec.read(&mut chunk) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn member(data: &[u8], builder: GzBuilder) -> Vec<u8> {
        let mut gz = builder.write(Vec::new(), Compression::default());
        gz.write_all(data).expect("gzip");
        gz.finish().expect("gzip")
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| format!("{{\"n\":{i},\"s\":\"{}\"}}\n", i * 7919 % 1000).into_bytes()).collect()
    }

    #[test]
    fn members_with_every_header_field_decode_one_after_another() {
        let a = text(3000);
        let b = text(10);
        let mut gz = member(&a, GzBuilder::new().filename("a.json").comment("made here").extra(vec![7; 300]));
        gz.extend(member(b"", GzBuilder::new()));
        gz.extend(member(&b, GzBuilder::new()));
        for size in [1, 5, 4096, usize::MAX] {
            let (out, err) = decode(&gz, size);
            assert!(err.is_none(), "reads of {size}: {err:?}");
            assert!(out == [&a[..], &b[..]].concat(), "reads of {size}");
        }
    }

    #[test]
    fn a_header_checksum_is_checked() {
        let data = text(5);
        let plain = member(&data, GzBuilder::new());
        let with_hcrc = |crc: u16| {
            let mut head = plain[..10].to_vec();
            head[3] |= FHCRC;
            let mut gz = head.clone();
            gz.extend_from_slice(&crc.to_le_bytes());
            gz.extend_from_slice(&plain[10..]);
            (gz, head)
        };
        let (_, head) = with_hcrc(0);
        let mut crc = Crc::new();
        crc.update(&head);
        let (good, _) = with_hcrc(crc.sum() as u16);
        assert_eq!(decode(&good, 3).0, data);
        let (bad, _) = with_hcrc(crc.sum() as u16 ^ 1);
        let (out, err) = decode(&bad, 3);
        assert!(out.is_empty());
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[test]
    fn damage_cuts_and_trailing_bytes_are_errors_of_their_kind_after_every_good_byte() {
        let data = text(400);
        let gz = member(&data, GzBuilder::new());
        let kind = |gz: &[u8]| {
            let kinds: Vec<_> = [1, 7, usize::MAX].iter().map(|&s| decode(gz, s).1.map(|e| e.kind())).collect();
            assert!(kinds.windows(2).all(|w| w[0] == w[1]), "{kinds:?}");
            kinds[0]
        };
        // Cut in the header, the deflate data, the trailer: all of what decodes, then EOF.
        for cut in [1, 5, 12, gz.len() / 2, gz.len() - 4] {
            assert_eq!(kind(&gz[..cut]), Some(io::ErrorKind::UnexpectedEof), "cut at {cut}");
            let outs: Vec<_> = [1, 7, usize::MAX].iter().map(|&s| decode(&gz[..cut], s).0).collect();
            assert!(outs.iter().all(|o| *o == outs[0] && data.starts_with(o)), "cut at {cut}");
        }
        // A checksum or length that does not match.
        let mut bad = gz.clone();
        let at = bad.len() - 6;
        bad[at] ^= 1;
        assert_eq!(kind(&bad), Some(io::ErrorKind::InvalidData));
        assert_eq!(decode(&bad, 7).0, data, "every byte came out before the trailer said so");
        // Bytes after the last member that are not a member; a reserved flag; not deflate.
        assert_eq!(kind(&[&gz[..], b"\0\0\0\0\0\0\0\0\0\0\0\0"].concat()), Some(io::ErrorKind::InvalidData));
        let mut reserved = gz.clone();
        reserved[3] |= 0x20;
        assert_eq!(kind(&reserved), Some(io::ErrorKind::InvalidData));
        let mut method = gz.clone();
        method[2] = 7;
        assert_eq!(kind(&method), Some(io::ErrorKind::InvalidData));
        // After an error, nothing more comes out.
        let mut dec = GzipDecoder::new(&method[..]);
        assert!(dec.read(&mut [0; 10]).is_err());
        assert!(dec.read(&mut [0; 10]).is_err());
    }
}
