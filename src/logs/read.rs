//! The streamed reader: bytes in, the failures of a log out, with memory flat whatever the size.
//!
//! The input is read in chunks. One Aho-Corasick automaton over every parser's trigger phrases
//! scans each chunk; lines without a trigger are only counted (memchr), never decoded. A line
//! with a trigger, and every line while a parser is inside a block, is decoded (invalid UTF-8
//! replaced, `\r` dropped), stripped of its prefixes ([`super::prefix`]), joined with its
//! continuation when a digest was cut by wrapping, and offered to the parsers. A line longer
//! than [`MAX_LINE`] is cut there. An input that is one JSON document (a TrustKit report saved
//! to a file) is also parsed whole, if it is at most [`MAX_DOCUMENT`] bytes.

use std::io::{self, Read};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::{diagnose, prefix, text, Failure, Found, Line, Parser};

/// The longest line looked at; the rest of a longer line is skipped.
pub const MAX_LINE: usize = 1 << 20;
/// The largest input also parsed as one JSON document.
pub const MAX_DOCUMENT: usize = 8 << 20;
/// The chunk read at a time.
const CHUNK: usize = 256 << 10;
/// How far into the input a NUL byte means it is not text.
const BINARY_WINDOW: usize = 64 << 10;

/// What `explain` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// Failures in the order of their first line.
    pub failures: Vec<Failure>,
    /// Lines read.
    pub lines: u64,
}

/// Why a log could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The input holds a NUL byte near its start: binary, or UTF-16 text.
    Binary {
        /// 1-based line of the first NUL byte.
        line: u64,
    },
    /// Reading failed.
    Io(io::Error),
}

/// Reads a whole log and explains its failures.
pub fn explain<R: Read>(input: R) -> Result<Explained, ReadError> {
    let mut scanner = Scanner::new()?;
    scanner.run(input)?;
    Ok(scanner.finish())
}

struct Scanner {
    automaton: AhoCorasick,
    parsers: Vec<Box<dyn Parser>>,
    /// Which parsers asked for the next line.
    wants: Vec<bool>,
    found: Vec<Found>,
    /// Lines completed so far.
    lines: u64,
    /// A line whose last digest looks cut, waiting for its continuation.
    pending: Option<(u64, String)>,
    /// The whole input while it may still be one JSON document.
    document: Option<Vec<u8>>,
    /// Bytes seen so far (for the binary window).
    seen: usize,
}

impl Scanner {
    fn new() -> Result<Scanner, ReadError> {
        let parsers = super::parsers();
        let mut triggers: Vec<&'static str> = parsers
            .iter()
            .flat_map(|p| p.triggers().iter().copied())
            .collect();
        triggers.sort_unstable();
        triggers.dedup();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&triggers)
            .map_err(|e| ReadError::Io(io::Error::other(format!("trigger phrases: {e}"))))?;
        let wants = vec![false; parsers.len()];
        Ok(Scanner {
            automaton,
            parsers,
            wants,
            found: Vec::new(),
            lines: 0,
            pending: None,
            document: Some(Vec::new()),
            seen: 0,
        })
    }

    fn run<R: Read>(&mut self, mut input: R) -> Result<(), ReadError> {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
        // Inside a line longer than MAX_LINE: its first MAX_LINE bytes were handled.
        let mut skipping = false;
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            let bytes = &chunk[..n];
            self.check_binary(bytes)?;
            self.keep_document(bytes);
            buf.extend_from_slice(bytes);
            let Some(last_nl) = memchr::memrchr(b'\n', &buf) else {
                if buf.len() > MAX_LINE {
                    if !skipping {
                        self.line(&buf[..MAX_LINE]);
                        skipping = true;
                    }
                    buf.clear();
                }
                continue;
            };
            let mut start = 0;
            if skipping {
                // The rest of the long line ends at the first newline.
                let end = memchr::memchr(b'\n', &buf).unwrap_or(last_nl);
                self.lines += 1;
                start = end + 1;
                skipping = false;
            }
            if start <= last_nl {
                let complete = buf[start..=last_nl].to_vec();
                self.region(&complete);
            }
            buf.drain(..=last_nl);
        }
        if skipping {
            self.lines += 1;
        } else if !buf.is_empty() {
            let rest = std::mem::take(&mut buf);
            self.line(&rest[..rest.len().min(MAX_LINE)]);
            self.lines += 1;
        }
        self.flush_pending();
        Ok(())
    }

    fn check_binary(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        if self.seen < BINARY_WINDOW {
            let window = &bytes[..bytes.len().min(BINARY_WINDOW - self.seen)];
            if let Some(at) = memchr::memchr(0, window) {
                let line =
                    self.lines + 1 + memchr::memchr_iter(b'\n', &window[..at]).count() as u64;
                return Err(ReadError::Binary { line });
            }
        }
        self.seen = self.seen.saturating_add(bytes.len());
        Ok(())
    }

    fn keep_document(&mut self, bytes: &[u8]) {
        if let Some(doc) = &mut self.document {
            if doc.len() + bytes.len() > MAX_DOCUMENT {
                self.document = None;
                return;
            }
            doc.extend_from_slice(bytes);
            if let Some(first) = doc.iter().find(|b| !b.is_ascii_whitespace()) {
                if *first != b'{' && *first != b'[' {
                    self.document = None;
                }
            }
        }
    }

    /// Complete lines (the region ends with `\n`).
    fn region(&mut self, data: &[u8]) {
        let mut pos = 0;
        while pos < data.len() {
            let forced = self.pending.is_some() || self.wants.iter().any(|w| *w);
            if forced {
                let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
                self.line(&data[pos..end]);
                self.lines += 1;
                pos = end + 1;
                continue;
            }
            match self.automaton.find(&data[pos..]) {
                None => {
                    self.lines += memchr::memchr_iter(b'\n', &data[pos..]).count() as u64;
                    pos = data.len();
                }
                Some(m) => {
                    let at = pos + m.start();
                    let line_start =
                        memchr::memrchr(b'\n', &data[pos..at]).map_or(pos, |i| pos + i + 1);
                    self.lines += memchr::memchr_iter(b'\n', &data[pos..line_start]).count() as u64;
                    let end = memchr::memchr(b'\n', &data[line_start..])
                        .map_or(data.len(), |i| line_start + i);
                    self.line(&data[line_start..end]);
                    self.lines += 1;
                    pos = end + 1;
                }
            }
        }
    }

    /// One line (without its `\n`); `self.lines` is the count before it.
    fn line(&mut self, bytes: &[u8]) {
        let no = self.lines + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let decoded = String::from_utf8_lossy(bytes);
        let stripped = prefix::strip(&decoded);
        if let Some((first_no, first)) = self.pending.take() {
            if let Some(joined) = text::join_cut(&first, stripped) {
                self.offer(first_no, &joined);
                return;
            }
            self.offer(first_no, &first);
        }
        if text::looks_cut(stripped) {
            self.pending = Some((no, stripped.to_string()));
            return;
        }
        self.offer(no, stripped);
    }

    fn flush_pending(&mut self) {
        if let Some((no, text)) = self.pending.take() {
            self.offer(no, &text);
        }
    }

    fn offer(&mut self, no: u64, text: &str) {
        let hit = self.automaton.is_match(text);
        let line = Line { no, text };
        for (parser, wants) in self.parsers.iter_mut().zip(self.wants.iter_mut()) {
            if *wants || hit {
                *wants = parser.line(line, &mut self.found);
            }
        }
    }

    fn finish(mut self) -> Explained {
        for parser in &mut self.parsers {
            parser.finish(&mut self.found);
        }
        let mut found = std::mem::take(&mut self.found);
        if let Some(doc) = self.document.take() {
            if let Some(whole) = super::trustkit::document(&doc) {
                found = whole;
            }
        }
        Explained {
            failures: diagnose::assemble(found),
            lines: self.lines,
        }
    }
}
