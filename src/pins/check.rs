//! `pins check`: does a pin set still match what a host presents? Pure: the presented
//! certificates, the pins, the backup keys and the clock in; which certificate each pin matches,
//! the warnings and the exit code out.

use serde::Serialize;

use super::input::Item;

/// Within this many days a leaf-only pin set gets the expiry warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// A certificate a pin may match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// 0 is the leaf; then the order the server sent; a trust anchor the server did not send
    /// comes last.
    pub position: usize,
    /// Subject distinguished name.
    pub subject: String,
    /// Its SPKI pin.
    pub pin: String,
    /// End of validity, Unix seconds.
    pub not_after_unix: Option<i64>,
    /// `sent` or `trust_store`.
    pub source: &'static str,
}

impl Candidate {
    /// The presented certificates (in the order sent), then the verified path's anchor when the
    /// server did not send it.
    pub fn list(presented: &[Item], anchor: Option<(String, String)>) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = presented
            .iter()
            .enumerate()
            .map(|(i, item)| Candidate {
                position: i,
                subject: item.label(),
                pin: item.pin.clone(),
                not_after_unix: item.cert.as_ref().map(|c| c.not_after_unix),
                source: "sent",
            })
            .collect();
        if let Some((subject, pin)) = anchor {
            if !out.iter().any(|c| c.pin == pin) {
                out.push(Candidate {
                    position: out.len(),
                    subject,
                    pin,
                    not_after_unix: None,
                    source: "trust_store",
                });
            }
        }
        out
    }
}

/// One pin and what it matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinMatch {
    /// The pin, base64.
    pub pin: String,
    /// Whether it came from `--backup` (a spare key).
    pub backup: bool,
    /// The certificate it matches, if any.
    pub matched: Option<Candidate>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Each pin, in the order given (pins, then backups).
    pub pins: Vec<PinMatch>,
    /// What deserves attention; none of it changes the exit code.
    pub warnings: Vec<String>,
    /// Whether any pin matches a certificate.
    pub matched: bool,
    /// 0 when a pin matches, 1 when none does.
    pub exit: i32,
}

/// Checks `pins` (and the `backups`' pins) against the `candidates` at `now` (Unix seconds).
pub fn check(candidates: &[Candidate], pins: &[String], backups: &[String], now: i64) -> Checked {
    let find = |pin: &str| candidates.iter().find(|c| c.pin == pin).cloned();
    let mut matches: Vec<PinMatch> = Vec::new();
    for (pin, backup) in pins
        .iter()
        .map(|p| (p, false))
        .chain(backups.iter().map(|p| (p, true)))
    {
        if matches.iter().any(|m| &m.pin == pin) {
            continue;
        }
        matches.push(PinMatch {
            pin: pin.clone(),
            backup,
            matched: find(pin),
        });
    }
    let mut warnings = Vec::new();
    for m in &matches {
        match (&m.matched, m.backup) {
            (None, false) => warnings.push(format!(
                "pin {} matches no certificate the host presented: fine if it is a backup (a \
                 spare key you hold), a defect if it is stale",
                m.pin
            )),
            (Some(c), true) => warnings.push(format!(
                "the backup pin {} is in use now (certificate {}, {}): it is not a spare",
                m.pin, c.position, c.subject
            )),
            _ => {}
        }
    }
    let spare = matches.iter().any(|m| m.matched.is_none());
    if !spare {
        warnings.push(
            "no backup pin: every pin is a key in use now; ship a spare key's pin (pin-proxy \
             pins backup) so that a key rotation does not take the app dark"
                .to_string(),
        );
    }
    let matched: Vec<&Candidate> = matches.iter().filter_map(|m| m.matched.as_ref()).collect();
    if !matched.is_empty() && matched.iter().all(|c| c.position == 0) {
        if let Some(end) = matched[0].not_after_unix {
            let days = (end - now).div_euclid(86_400);
            if end < now {
                warnings.push(format!(
                    "only the leaf is pinned and it expired {} day(s) ago",
                    -days
                ));
            } else if days < EXPIRY_WARNING_DAYS {
                warnings.push(format!(
                    "only the leaf is pinned and it expires in {days} day(s): if its \
                     replacement has a new key, every app with these pins goes dark (pin the \
                     new key or an intermediate now)"
                ));
            }
        }
    }
    let any = !matched.is_empty();
    Checked {
        pins: matches,
        warnings,
        matched: any,
        exit: if any { 0 } else { 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn chain(leaf_days: i64) -> Vec<Candidate> {
        vec![
            Candidate {
                position: 0,
                subject: "CN=api".into(),
                pin: "LEAF".into(),
                not_after_unix: Some(leaf_days * DAY),
                source: "sent",
            },
            Candidate {
                position: 1,
                subject: "CN=int".into(),
                pin: "INT".into(),
                not_after_unix: Some(900 * DAY),
                source: "sent",
            },
        ]
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_match_with_a_spare_is_clean() {
        let c = check(&chain(200), &s(&["INT"]), &s(&["SPARE"]), 0);
        assert_eq!((c.exit, c.warnings.len()), (0, 0), "{:?}", c.warnings);
        assert_eq!(c.pins[0].matched.as_ref().unwrap().position, 1);
        assert!(c.pins[1].matched.is_none() && c.pins[1].backup);
    }

    #[test]
    fn nothing_matching_exits_1() {
        let c = check(&chain(200), &s(&["OLD"]), &[], 0);
        assert_eq!(c.exit, 1);
        assert!(c.warnings[0].starts_with("pin OLD matches no certificate"));
    }

    #[test]
    fn no_spare_and_an_expiring_leaf_warn_but_pass() {
        let c = check(&chain(29), &s(&["LEAF"]), &[], 0);
        assert_eq!(c.exit, 0);
        assert!(c.warnings.iter().any(|w| w.starts_with("no backup pin")));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("expires in 29 day(s)")));
        // 30 days out: no expiry warning; pinning the intermediate too: none either.
        assert!(!check(&chain(30), &s(&["LEAF"]), &[], 0)
            .warnings
            .iter()
            .any(|w| w.contains("expires")));
        assert!(!check(&chain(2), &s(&["LEAF", "INT"]), &[], 0)
            .warnings
            .iter()
            .any(|w| w.contains("expires")));
        assert!(check(&chain(-3), &s(&["LEAF"]), &[], 0)
            .warnings
            .iter()
            .any(|w| w.contains("expired 3 day(s) ago")));
    }

    #[test]
    fn a_backup_in_use_is_not_a_spare() {
        let c = check(&chain(200), &s(&["INT"]), &s(&["LEAF"]), 0);
        assert!(c.warnings.iter().any(|w| w.contains("is in use now")));
        assert!(c.warnings.iter().any(|w| w.starts_with("no backup pin")));
    }

    #[test]
    fn an_unsent_anchor_is_a_candidate_once() {
        let presented: Vec<Item> = Vec::new();
        let list = Candidate::list(&presented, Some(("CN=root".into(), "ROOT".into())));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].source, "trust_store");
    }
}
