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

use super::{diagnose, prefix, text, Failure, Line, Parser};

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

/// A line held back until the next one says whether it continues it.
struct Pending {
    no: u64,
    text: String,
    /// It has a terminal's wrapping width (else: a digest looks cut at its end).
    wrapped: bool,
    /// It had a prefix: a next line without one continues it even when it starts with a space.
    prefixed: bool,
}

struct Scanner {
    automaton: AhoCorasick,
    parsers: Vec<Box<dyn Parser>>,
    /// Which parsers asked for the next line.
    wants: Vec<bool>,
    found: diagnose::Collector,
    /// Lines completed so far.
    lines: u64,
    /// A line that looks wrapped or cut, waiting for its continuation.
    pending: Option<Pending>,
    /// The text of the line before the one offered (context for the parsers).
    prev: String,
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
            found: diagnose::Collector::default(),
            lines: 0,
            pending: None,
            prev: String::new(),
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
                    // The line before, for the parsers' context and for a line wrapped into this one.
                    if line_start > 0 {
                        let prev_start =
                            memchr::memrchr(b'\n', &data[..line_start - 1]).map_or(0, |i| i + 1);
                        self.before(&data[prev_start..line_start - 1]);
                    }
                    self.line(&data[line_start..end]);
                    self.lines += 1;
                    pos = end + 1;
                }
            }
        }
    }

    /// The line before a hit, which no parser asked for: kept as context, and made the first
    /// half of a wrapped line when it has a wrapping width.
    fn before(&mut self, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let decoded = String::from_utf8_lossy(bytes);
        let stripped = prefix::strip(&decoded);
        if text::wrap_width(decoded.chars().count()) {
            self.pending = Some(Pending {
                no: self.lines,
                text: stripped.to_string(),
                wrapped: true,
                prefixed: stripped.len() != decoded.len(),
            });
        } else {
            self.prev.clear();
            self.prev.push_str(stripped);
        }
    }

    /// One line (without its `\n`); `self.lines` is the count before it.
    fn line(&mut self, bytes: &[u8]) {
        let no = self.lines + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let decoded = String::from_utf8_lossy(bytes);
        let stripped = prefix::strip(&decoded);
        let width = decoded.chars().count();
        let (no, text): (u64, std::borrow::Cow<'_, str>) = match self.pending.take() {
            // A hard-wrapped line: its rest starts in column 1, with no prefix and no indent.
            // Only where lines carry prefixes: a continuation is then told by having none. In
            // a log without prefixes a line of that width is just a line.
            Some(p) if p.wrapped && p.prefixed && stripped.len() == decoded.len() => {
                (p.no, format!("{}{}", p.text, stripped).into())
            }
            Some(p) => match text::join_cut(&p.text, stripped) {
                Some(joined) => (p.no, joined.into()),
                None => {
                    self.offer(p.no, &p.text);
                    (no, stripped.into())
                }
            },
            None => (no, stripped.into()),
        };
        if text::wrap_width(width) || text::looks_cut(&text) {
            let prefixed = stripped.len() != decoded.len() || no != self.lines + 1;
            self.pending = Some(Pending {
                no,
                text: text.into_owned(),
                wrapped: text::wrap_width(width),
                prefixed,
            });
            return;
        }
        self.offer(no, &text);
    }

    fn flush_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.offer(p.no, &p.text);
        }
    }

    /// Hands a line to the parsers; a line holding a whole block with literal `\n` escapes (a
    /// JSON string, an exception's `ToString`) is handed over as the lines it holds.
    fn offer(&mut self, no: u64, text: &str) {
        let hit = self.automaton.is_match(text);
        if hit && text.contains("\\n") && !text.trim_start().starts_with('{') {
            for piece in text.split("\\n") {
                let piece = piece
                    .replace("\\t", "\t")
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\");
                self.offer_one(no, &piece, true);
            }
            return;
        }
        self.offer_one(no, text, hit);
    }

    fn offer_one(&mut self, no: u64, text: &str, hit: bool) {
        let line = Line {
            no,
            text,
            prev: &self.prev,
        };
        for (parser, wants) in self.parsers.iter_mut().zip(self.wants.iter_mut()) {
            if *wants || hit {
                *wants = parser.line(line, &mut self.found.incoming);
            }
        }
        self.found.settle(no);
        self.prev.clear();
        self.prev.push_str(text);
    }

    fn finish(mut self) -> Explained {
        for parser in &mut self.parsers {
            parser.finish(&mut self.found.incoming);
        }
        let mut found = std::mem::take(&mut self.found);
        if let Some(doc) = self.document.take() {
            if let Some(whole) = super::trustkit::document(&doc) {
                found = diagnose::Collector::default();
                for f in whole {
                    found.push(f);
                }
            }
        }
        Explained {
            failures: found.finish(),
            lines: self.lines,
        }
    }
}
