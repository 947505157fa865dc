//! The pinning map as one self-contained HTML file (`report --format html`): the summary, the
//! notes about clients, the per-host table (sortable by any column, a small inline script), each
//! host's connections and readable requests, the unreadable lines and the legend of the verdicts.
//! No external asset of any kind: the file can be mailed, attached to a CI run or opened offline.
//! Every value from the events file is HTML-escaped. Pure.

use std::fmt::Write as _;

use super::map::{HostRow, PinningMap};

/// The verdicts' legend, as in the README.
const LEGEND: [(&str, &str); 5] = [
    (
        "cancelled",
        "the client refused the connection after it saw the forged certificate: pinning (or \
         trust) worked",
    ),
    (
        "proceeded",
        "the client sent requests through the forged certificate: its traffic was readable",
    ),
    (
        "passthrough",
        "the proxy relayed the bytes untouched (a rule, or learn mode): the client talked to the \
         real server",
    ),
    (
        "upstream_failed",
        "the proxy could not reach or verify the origin: never a cancel",
    ),
    (
        "undecided",
        "nothing conclusive: idle past --decide-after, refused before any certificate, or the \
         proxy stopped",
    ),
];

/// `pinned?` values, as explained beside the table.
const PINNED: [(&str, &str); 4] = [
    ("yes", "every intercepted connection was cancelled"),
    ("no", "every intercepted connection proceeded"),
    ("mixed", "some cancelled, some proceeded"),
    ("unknown", "no intercepted connection was decided"),
];

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1b1b}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;\
text-align:left;vertical-align:top}td.n{text-align:right}\
th[data-key]{cursor:pointer;background:#f3f3f3;user-select:none}\
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\
.yes{color:#176f2c;font-weight:600}.no{color:#b00020;font-weight:600}.mixed{color:#9a6700;\
font-weight:600}.unknown{color:#666}code{font-size:.95em}details{margin:.4em 0}\
.note{background:#fff4e5;border-left:4px solid #e8a33d;padding:.4em .8em;margin:.4em 0}";

/// Sorts `#hosts` by the clicked column: numbers by `data-value`, text by its content; the
/// first click sorts numbers high to low and text A to Z, the next one reverses.
const SCRIPT: &str = r#"(function(){
var table=document.getElementById('hosts');if(!table)return;
var heads=table.querySelectorAll('th[data-key]');
heads.forEach(function(th,col){th.addEventListener('click',function(){
var num=th.dataset.type==='num';
var cur=th.getAttribute('aria-sort');
var asc=cur?cur==='descending':!num;
heads.forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];var c;
if(num){c=Number(x.dataset.value)-Number(y.dataset.value);}
else{c=x.textContent.localeCompare(y.textContent);}
if(c===0){c=a.dataset.host.localeCompare(b.dataset.host);return c;}
return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});
});});
})();"#;

/// HTML-escapes text for an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The sortable table's columns: (key, heading, numeric).
const COLUMNS: [(&str, &str, bool); 11] = [
    ("host", "host", false),
    ("connections", "connections", true),
    ("cancelled", "cancelled", true),
    ("proceeded", "proceeded", true),
    ("passthrough", "passthrough", true),
    ("upstream_failed", "upstream failed", true),
    ("undecided", "undecided", true),
    ("pinned", "pinned?", false),
    ("learned", "learned", false),
    ("first_seen", "first seen", false),
    ("last_seen", "last seen", false),
];

impl PinningMap {
    /// The whole map as one self-contained HTML document.
    pub fn html(&self) -> String {
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width\">");
        out.push_str("<title>pin-proxy pinning map</title><style>");
        out.push_str(STYLE);
        out.push_str("</style></head><body>\n<h1>Pinning map</h1>\n");
        self.summary(&mut out);
        self.table(&mut out);
        self.details(&mut out);
        if !self.malformed.is_empty() {
            out.push_str("<h2>Lines that could not be read</h2>\n<ul id=\"malformed\">");
            for m in &self.malformed {
                let _ = write!(
                    out,
                    "<li><code>{}:{}</code>: {}</li>",
                    escape(&m.file),
                    m.line,
                    escape(&m.error)
                );
            }
            out.push_str("</ul>\n");
        }
        legend(&mut out);
        out.push_str("<script>");
        out.push_str(SCRIPT);
        out.push_str("</script>\n</body></html>\n");
        out
    }

    fn summary(&self, out: &mut String) {
        let connections: u64 = self.hosts.iter().map(|h| h.connections).sum();
        let hosts = self.hosts.iter().filter(|h| h.host != "-").count();
        let _ = write!(
            out,
            "<section id=\"summary\"><p>{hosts} host(s), {connections} connection(s): "
        );
        let parts: Vec<String> = self
            .pinned_counts()
            .iter()
            .map(|(p, n)| format!("<span class=\"{p}\" data-pinned=\"{p}\">{n} {p}</span>"))
            .collect();
        let _ = write!(out, "pinned? {}", parts.join(", "));
        let learned = self.hosts.iter().filter(|h| h.learned).count();
        if learned > 0 {
            let _ = write!(out, "; {learned} learned (passed through by --learn)");
        }
        let readable: u64 = self.hosts.iter().map(|h| h.readable_count).sum();
        let _ = write!(out, "; {readable} readable request(s).</p>");
        for c in self.clients.iter().filter(|c| c.note.is_some()) {
            let _ = write!(
                out,
                "<p class=\"note\" data-client=\"{}\" data-may-not-trust=\"{}\"><b>{}</b>: {}</p>",
                escape(&c.client),
                c.may_not_trust_ca,
                escape(&c.client),
                escape(c.note.as_deref().unwrap_or_default())
            );
        }
        out.push_str("</section>\n");
    }

    fn table(&self, out: &mut String) {
        out.push_str(
            "<h2>Hosts</h2>\n<p>Click a heading to sort.</p>\n<table id=\"hosts\"><thead><tr>",
        );
        for (key, heading, num) in COLUMNS {
            let _ = write!(
                out,
                "<th data-key=\"{key}\" data-type=\"{}\">{heading}</th>",
                if num { "num" } else { "text" }
            );
        }
        out.push_str("</tr></thead><tbody>\n");
        for h in &self.hosts {
            let host = escape(&h.host);
            let _ = write!(
                out,
                "<tr data-host=\"{host}\"><td><a href=\"#host-{}\">{host}</a></td>",
                anchor(&h.host)
            );
            for n in [
                h.connections,
                h.cancelled,
                h.proceeded,
                h.passthrough,
                h.upstream_failed,
                h.undecided,
            ] {
                let _ = write!(out, "<td class=\"n\" data-value=\"{n}\">{n}</td>");
            }
            let _ = writeln!(
                out,
                "<td class=\"{}\"{}>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                h.pinned,
                if h.ca_doubt {
                    format!(" title=\"{}\"", escape(super::map::DOUBT_NOTE))
                } else {
                    String::new()
                },
                h.pinned_shown(),
                if h.learned { "learned" } else { "" },
                escape(&h.first_seen),
                escape(&h.last_seen),
            );
        }
        out.push_str("</tbody></table>\n");
        if self.hosts.iter().any(|h| h.ca_doubt) {
            let _ = writeln!(
                out,
                "<p id=\"doubt\">{}</p>",
                escape(super::map::DOUBT_NOTE)
            );
        }
    }

    fn details(&self, out: &mut String) {
        out.push_str("<h2>Connections by host</h2>\n");
        for h in &self.hosts {
            host_details(out, h);
        }
    }
}

/// A host name as an element id: letters, digits, `.` and `-` kept, anything else `_`.
fn anchor(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn host_details(out: &mut String, h: &HostRow) {
    let _ = writeln!(
        out,
        "<details id=\"host-{}\" data-host=\"{}\"{}><summary><code>{}</code>: {} connection(s), \
         pinned? <span class=\"{p}\">{p}</span>{}</summary>",
        anchor(&h.host),
        escape(&h.host),
        if h.readable_count > 0 { " open" } else { "" },
        escape(&h.host),
        h.connections,
        if h.learned { ", learned" } else { "" },
        p = h.pinned,
    );
    if h.readable_count > 0 {
        let _ = write!(
            out,
            "<p>{} readable request(s) (query values redacted):</p><ul class=\"readable\">",
            h.readable_count
        );
        for q in &h.readable_requests {
            let _ = write!(out, "<li><code>{}</code></li>", escape(q));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(
        "<table class=\"connections\"><thead><tr><th>#</th><th>started</th><th>client</th>\
         <th>action</th><th>verdict</th><th>stage</th><th>reason</th><th>requests</th></tr>\
         </thead><tbody>\n",
    );
    for c in &h.connection_list {
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"verdict\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            c.id,
            escape(&c.started),
            escape(&c.client),
            action_cell(c),
            c.verdict,
            c.stage,
            escape(&c.reason),
            c.requests
                .iter()
                .map(|q| format!("<code>{}</code>", escape(q)))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    out.push_str("</tbody></table>\n");
    let listed = h.connection_list.len() as u64;
    if h.connections > listed {
        let _ = writeln!(
            out,
            "<p>{} more connection(s) not listed; the events file has them all.</p>",
            h.connections - listed
        );
    }
    out.push_str("</details>\n");
}

fn legend(out: &mut String) {
    out.push_str("<h2>Legend</h2>\n<dl id=\"legend\">");
    for (name, meaning) in LEGEND {
        let _ = write!(
            out,
            "<dt><code>{name}</code></dt><dd>{}</dd>",
            escape(meaning)
        );
    }
    out.push_str("</dl>\n<dl id=\"pinned-legend\">");
    for (name, meaning) in PINNED {
        let _ = write!(
            out,
            "<dt>pinned? <span class=\"{name}\">{name}</span></dt><dd>{meaning}</dd>"
        );
    }
    out.push_str("</dl>\n");
}

/// A connection's action, with the certificates a `smuggle-chain` connection sent.
fn action_cell(c: &super::map::ConnLine) -> String {
    let mut cell = escape(&c.action);
    if !c.sent.is_empty() {
        let sent: Vec<String> = c.sent.iter().map(|s| escape(s)).collect();
        let _ = write!(cell, "<br><small>sent: {}</small>", sent.join("<br>"));
    }
    cell
}

#[cfg(test)]
mod tests {
    use super::super::map::{read_events, PinningMap};

    #[test]
    fn self_contained_escaped_and_complete() {
        let text = r#"{"schema":1,"id":1,"client":"10.0.0.7:5","host":"a<b>.test","port":443,"action":"intercept","profile":"forged","verdict":"proceeded","stage":"request","reason":"1 request","requests":[{"method":"GET","path":"/x?<script>=<redacted>","status":200}],"request_count":1,"started":"2026-12-02T10:00:00.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}
broken
"#;
        let (records, malformed) = read_events("e\"vil.jsonl", text);
        let html = PinningMap::build(&records, malformed).html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        for external in ["src=", "href=\"http", "<link", "@import", "url("] {
            assert!(!html.contains(external), "{external} in {html}");
        }
        assert!(html.contains("a&lt;b&gt;.test"));
        assert!(html.contains("/x?&lt;script&gt;=&lt;redacted&gt;"));
        assert!(!html.contains("<b>.test"));
        assert!(html.contains("e&quot;vil.jsonl:2"));
        assert!(html.contains("<dt><code>upstream_failed</code></dt>"));
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn a_smuggled_chain_is_listed_with_its_connection() {
        let text = r#"{"schema":1,"id":1,"client":"10.0.0.7:5","host":"a.test","port":443,"action":"intercept","profile":"smuggle-chain","presented_pin":"P0","presented_chain":[{"position":0,"subject":"CN=a.test","issuer":"CN=local","pin":"P0"},{"position":1,"subject":"CN=local","issuer":"CN=local","pin":"P1"},{"position":2,"subject":"CN=real <int>","issuer":"CN=real root","pin":"P2"}],"verdict":"proceeded","stage":"request","reason":"1 request","requests":[],"request_count":1,"started":"2026-12-02T10:00:00.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}
{"schema":1,"id":2,"client":"10.0.0.7:6","host":"b.test","port":443,"action":"intercept","profile":"forged","presented_pin":"Q0","presented_chain":[{"position":0,"subject":"CN=b.test","issuer":"CN=local","pin":"Q0"}],"verdict":"cancelled","stage":"handshake","reason":"alert:bad_certificate","requests":[],"request_count":0,"started":"2026-12-02T10:00:01.000Z","duration_ms":3,"bytes_up":1,"bytes_down":2}
"#;
        let (records, malformed) = read_events("e.jsonl", text);
        let html = PinningMap::build(&records, malformed).html();
        assert!(
            html.contains(
                "<small>sent: CN=a.test (P0)<br>CN=local (P1)<br>CN=real &lt;int&gt; (P2)</small>"
            ),
            "{html}"
        );
        assert!(
            !html.contains("CN=b.test (Q0)"),
            "only smuggle-chain connections list it"
        );
    }
}
