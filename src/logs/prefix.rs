//! Line prefixes: what loggers, terminals and CI systems put in front of a library's message.
//!
//! [`strip`] removes, as many times as they are stacked, the prefixes of logcat (threadtime,
//! brief, and Android Studio's `date time PID-TID/package L/Tag: ` and its newer column form),
//! syslog and idevicesyslog, Xcode's console (`date time+zone App[pid:tid] `), ISO 8601 and
//! bracketed timestamps (GitHub Actions, most loggers), `[LEVEL]` and `LEVEL ` words, docker
//! compose's `service | `, GitHub's `##[error]`, pytest's `E   ` and `> ` quoting of a pasted
//! issue. Leading spaces of the message itself (OkHttp's indented block) are kept. Pure.

/// The message of a line, every known prefix removed.
pub fn strip(line: &str) -> &str {
    let mut s = line;
    for _ in 0..12 {
        let next = strip_one(s);
        if next.len() == s.len() {
            break;
        }
        s = next;
    }
    s
}

const LEVELS: &[u8] = b"VDIWEFA";
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const LEVEL_WORDS: [&str; 10] = [
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "FATAL", "SEVERE", "CRITICAL",
];

/// A prefix rule: the length of the prefix it recognises at the start, if any.
type Rule = fn(&[u8]) -> Option<usize>;

fn strip_one(s: &str) -> &str {
    let b = s.as_bytes();
    let rules: [Rule; 13] = [
        quote,
        github_command,
        iso_timestamp,
        logcat_date_time,
        syslog,
        bracketed,
        pid_tid_level_tag,
        android_studio_pid,
        level_tag,
        xcode_process,
        level_word,
        docker_service,
        pytest_error,
    ];
    for rule in rules {
        if let Some(n) = rule(b) {
            if n > 0 && n <= b.len() && s.is_char_boundary(n) {
                return &s[n..];
            }
        }
    }
    s
}

/// Bytes matched by `pred` from `at`.
fn run(b: &[u8], at: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(at..)
        .map_or(0, |rest| rest.iter().take_while(|c| pred(**c)).count())
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<usize> {
    let got = run(b, at, |c| c.is_ascii_digit());
    (got == n).then_some(at + n)
}

fn byte(b: &[u8], at: usize, want: u8) -> Option<usize> {
    (b.get(at) == Some(&want)).then_some(at + 1)
}

fn spaces(b: &[u8], at: usize) -> usize {
    at + run(b, at, |c| c == b' ' || c == b'\t')
}

/// Past one space at `at`, if there is one: the separator, not the message's indentation.
fn one_space(b: &[u8], at: usize) -> usize {
    if b.get(at) == Some(&b' ') {
        at + 1
    } else {
        at
    }
}

fn some_spaces(b: &[u8], at: usize) -> Option<usize> {
    let end = spaces(b, at);
    (end > at).then_some(end)
}

/// `hh:mm:ss` with an optional `.fraction` or `,fraction`.
fn time(b: &[u8], at: usize) -> Option<usize> {
    let i = digits(b, at, 2)?;
    let i = byte(b, i, b':')?;
    let i = digits(b, i, 2)?;
    let i = byte(b, i, b':')?;
    let mut i = digits(b, i, 2)?;
    if matches!(b.get(i), Some(b'.') | Some(b',')) {
        let n = run(b, i + 1, |c| c.is_ascii_digit());
        if n > 0 {
            i += 1 + n;
        }
    }
    Some(i)
}

/// `Z`, `+01:00`, `+0100`, `-05`.
fn zone(b: &[u8], at: usize) -> usize {
    match b.get(at) {
        Some(b'Z') => at + 1,
        Some(b'+') | Some(b'-') => {
            let n = run(b, at + 1, |c| c.is_ascii_digit() || c == b':');
            if (2..=5).contains(&n) {
                at + 1 + n
            } else {
                at
            }
        }
        _ => at,
    }
}

/// `> ` (a quoted line of a pasted issue or mail), also `>` alone.
fn quote(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'>') {
        return None;
    }
    Some(if b.get(1) == Some(&b' ') { 2 } else { 1 })
}

/// GitHub Actions workflow commands: `##[error]`, `##[warning]`, `##[group]`.
fn github_command(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"##[") {
        return None;
    }
    let close = b.iter().position(|c| *c == b']')?;
    (close < 16).then_some(spaces(b, close + 1))
}

/// `2026-12-01T10:00:00.1234567Z `, `2026-12-01 10:00:00.123+0100 `, `2026/12/01 10:00:00 `.
fn iso_timestamp(b: &[u8]) -> Option<usize> {
    let i = digits(b, 0, 4)?;
    let sep = *b.get(i)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let i = digits(b, i + 1, 2)?;
    let i = byte(b, i, sep)?;
    let i = digits(b, i, 2)?;
    let i = match b.get(i) {
        Some(b'T') | Some(b' ') => i + 1,
        _ => return None,
    };
    let i = time(b, i)?;
    let i = zone(b, i);
    let i = some_spaces(b, i).or_else(|| byte(b, i, b':').map(|j| spaces(b, j)))?;
    Some(i)
}

/// logcat's `12-01 10:00:00.123 ` (threadtime and time formats), the pid part follows.
fn logcat_date_time(b: &[u8]) -> Option<usize> {
    let i = digits(b, 0, 2)?;
    let i = byte(b, i, b'-')?;
    let i = digits(b, i, 2)?;
    let i = some_spaces(b, i)?;
    let i = time(b, i)?;
    some_spaces(b, i)
}

/// `Dec  1 10:00:00 host proc[123]: ` and idevicesyslog's
/// `Dec  1 10:00:00 iPhone MyApp(CFNetwork)[123] <Error>: `.
fn syslog(b: &[u8]) -> Option<usize> {
    let month = b.get(..3)?;
    if !MONTHS.iter().any(|m| m.as_bytes() == month) {
        return None;
    }
    let i = some_spaces(b, 3)?;
    let day = run(b, i, |c| c.is_ascii_digit());
    if day == 0 || day > 2 {
        return None;
    }
    let i = some_spaces(b, i + day)?;
    let i = time(b, i)?;
    let i = some_spaces(b, i)?;
    // The host.
    let host = run(b, i, |c| !c.is_ascii_whitespace());
    if host == 0 {
        return None;
    }
    let i = some_spaces(b, i + host)?;
    // The process: name, optional (subsystem), optional [pid], then `:` or ` <Level>:`.
    let name = run(b, i, |c| !c.is_ascii_whitespace() && c != b'[' && c != b':');
    if name == 0 {
        return None;
    }
    let mut j = i + name;
    if b.get(j) == Some(&b'[') {
        let n = run(b, j + 1, |c| c.is_ascii_digit());
        j = byte(b, j + 1 + n, b']')?;
    }
    if b.get(j) == Some(&b':') {
        return Some(spaces(b, j + 1));
    }
    let k = spaces(b, j);
    if b.get(k) == Some(&b'<') {
        let n = run(b, k + 1, |c| c.is_ascii_alphabetic());
        let k = byte(b, k + 1 + n, b'>')?;
        let k = byte(b, k, b':')?;
        return Some(spaces(b, k));
    }
    None
}

/// `[2026-12-01 10:00:00]`, `[10:00:00.123]`, `[INFO]`, `[main]`-free: only timestamps and levels.
fn bracketed(b: &[u8]) -> Option<usize> {
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = b.iter().take(48).position(|c| *c == b']')?;
    let inner = &b[1..close];
    let is_time = inner.first().is_some_and(u8::is_ascii_digit)
        && inner
            .iter()
            .all(|c| c.is_ascii_digit() || b"-/:.,TZ +".contains(c));
    let is_level = LEVEL_WORDS
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(inner));
    (is_time || is_level).then(|| spaces(b, close + 1))
}

/// `1234  5678 I Tag   : ` (logcat threadtime after its date and time).
fn pid_tid_level_tag(b: &[u8]) -> Option<usize> {
    let n = run(b, 0, |c| c.is_ascii_digit());
    if n == 0 {
        return None;
    }
    let i = some_spaces(b, n)?;
    let m = run(b, i, |c| c.is_ascii_digit());
    if m == 0 {
        return None;
    }
    let i = some_spaces(b, i + m)?;
    let level = *b.get(i)?;
    if !LEVELS.contains(&level) || b.get(i + 1) != Some(&b' ') {
        return None;
    }
    let i = spaces(b, i + 1);
    tag_colon(b, i)
}

/// The tag of a logcat line, up to `: ` (a tag may be padded with spaces before the colon).
fn tag_colon(b: &[u8], at: usize) -> Option<usize> {
    let window = &b[at..b.len().min(at + 64)];
    let colon = window.windows(2).position(|w| w == b": ")?;
    let tag = &window[..colon];
    if tag.is_empty() || tag.contains(&b'\t') {
        return None;
    }
    // logcat writes `tag: message`: what follows that one space is the message's own.
    Some(at + colon + 2)
}

/// Android Studio's `12641-16010/com.example.app ` before `W/System.err: `, and its newer
/// column form `12641-16010 OkHttp   com.example.app   E  `.
fn android_studio_pid(b: &[u8]) -> Option<usize> {
    let n = run(b, 0, |c| c.is_ascii_digit());
    if n == 0 {
        return None;
    }
    let i = byte(b, n, b'-')?;
    let m = run(b, i, |c| c.is_ascii_digit());
    if m == 0 {
        return None;
    }
    let i = i + m;
    if b.get(i) == Some(&b'/') {
        let pkg = run(b, i + 1, |c| !c.is_ascii_whitespace());
        return some_spaces(b, i + 1 + pkg);
    }
    let i = some_spaces(b, i)?;
    // Up to two columns (tag, package), then a level letter alone.
    let mut j = i;
    for _ in 0..3 {
        let word = run(b, j, |c| !c.is_ascii_whitespace());
        if word == 1 && LEVELS.contains(&b[j]) && b.get(j + 1) == Some(&b' ') {
            return Some(spaces(b, j + 1));
        }
        if word == 0 {
            return None;
        }
        j = some_spaces(b, j + word)?;
    }
    None
}

/// logcat brief `W/System.err( 1234): ` and the pid-less `W/System.err: `.
fn level_tag(b: &[u8]) -> Option<usize> {
    let level = *b.first()?;
    if !LEVELS.contains(&level) || b.get(1) != Some(&b'/') {
        return None;
    }
    let window = &b[2..b.len().min(2 + 96)];
    let end = window.iter().position(|c| *c == b'(' || *c == b':')?;
    if end == 0 {
        return None;
    }
    let mut i = 2 + end;
    if b[i] == b'(' {
        let j = spaces(b, i + 1);
        let n = run(b, j, |c| c.is_ascii_digit());
        i = byte(b, j + n, b')')?;
    }
    let i = byte(b, i, b':')?;
    Some(one_space(b, i))
}

/// Xcode's console and os_log: `MyApp[123:4567] `, also `MyApp[123] `.
fn xcode_process(b: &[u8]) -> Option<usize> {
    let name = run(b, 0, |c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if name == 0 || b.get(name) != Some(&b'[') {
        return None;
    }
    let i = name + 1;
    let n = run(b, i, |c| c.is_ascii_digit());
    if n == 0 {
        return None;
    }
    let mut i = i + n;
    if b.get(i) == Some(&b':') {
        i += 1 + run(b, i + 1, |c| c.is_ascii_hexdigit() || c == b'x');
    }
    let i = byte(b, i, b']')?;
    some_spaces(b, i)
}

/// `ERROR `, `WARN: ` and the like, upper case only (a message's own `Error:` stays).
fn level_word(b: &[u8]) -> Option<usize> {
    for word in LEVEL_WORDS {
        let w = word.as_bytes();
        if b.starts_with(w) {
            let i = w.len();
            let i = if b.get(i) == Some(&b':') { i + 1 } else { i };
            return some_spaces(b, i);
        }
    }
    None
}

/// docker compose's `api-1  | `.
fn docker_service(b: &[u8]) -> Option<usize> {
    let name = run(b, 0, |c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if name == 0 || name > 64 {
        return None;
    }
    let i = some_spaces(b, name)?;
    let i = byte(b, i, b'|')?;
    Some(spaces(b, i))
}

/// pytest's `E   ` in front of an exception's lines.
fn pytest_error(b: &[u8]) -> Option<usize> {
    if b.first() == Some(&b'E') && b.get(1) == Some(&b' ') && b.get(2) == Some(&b' ') {
        return Some(spaces(b, 1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "javax.net.ssl.SSLPeerUnverifiedException: Certificate pinning failure!";

    #[test]
    fn every_prefix_is_removed() {
        let cases = [
            "12-01 10:00:00.123  1234  5678 I System.out: ",
            "12-01 10:00:00.123  1234  5678 W OkHttp  : ",
            "W/System.err( 1234): ",
            "W/System.err(1234): ",
            "I/System.out: ",
            "2021-07-15 19:00:41.822 12641-16010/com.example.sampleapp W/System.err: ",
            "2023-05-02 11:22:33.444  1234-5678  System.err   com.example.app   W  ",
            "Dec  1 10:00:00 host app[123]: ",
            "Dec 11 10:00:00 iPhone MyApp(CFNetwork)[123] <Error>: ",
            "2026-12-01 10:00:00.123456+0100 MyApp[123:4567] ",
            "2026-12-01T10:00:00.1234567Z ",
            "2026-12-01T10:00:00Z ##[error]",
            "> ",
            "> > ",
            "[2026-12-01 10:00:00] [ERROR] ",
            "[10:00:00.123] ",
            "api-1  | ",
            "E       ",
            "ERROR ",
            "2026-12-01 10:00:00,123 ERROR ",
        ];
        for prefix in cases {
            let line = format!("{prefix}{MSG}");
            assert_eq!(strip(&line), MSG, "prefix {prefix:?}");
        }
    }

    #[test]
    fn messages_and_their_indentation_are_kept() {
        for line in [
            "  Peer certificate chain:",
            "    sha256/AAAA: CN=*.badssl.com",
            "=== TrustKit: Error: SSL Pin not found for api.example.com",
            "Error Domain=NSURLErrorDomain Code=-999 \"cancelled\"",
            "curl: (90) SSL: public key does not match pinned public key",
            "* SSL connection using TLSv1.3",
            "Caused by: java.security.cert.CertificateException: Pin verification failed",
            "URLSessionDelegate: host api.example.com public key hash abc=",
        ] {
            assert_eq!(strip(line), line);
        }
        assert_eq!(
            strip("I/System.out:     sha256/AAAA: CN=x"),
            "    sha256/AAAA: CN=x"
        );
        // OkHttp 3.13's block as `adb logcat` (threadtime) shows System.err (tests/logs.rs).
        assert_eq!(
            strip("12-01 10:00:00.123  1234  5678 W System.err:   Peer certificate chain:"),
            "  Peer certificate chain:"
        );
        assert_eq!(
            strip("12-01 10:00:00.123  1234  5678 W System.err: \tat okhttp3.CertificatePinner.check(CertificatePinner.java:204)"),
            "\tat okhttp3.CertificatePinner.check(CertificatePinner.java:204)"
        );
    }
}
