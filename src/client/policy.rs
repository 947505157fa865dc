//! The reference client's pinning policy: which pins apply to a host, and whether the verified
//! path matches them. Pure: the path comes in as pins (leaf first), a decision goes out.
//!
//! The algorithm is the seed article's URLSession delegate (default trust evaluation first, then
//! each certificate's SPKI SHA-256, leaf first; proceed on the first match, cancel otherwise,
//! cancel a host that has no pins), with the switches other libraries differ in: `--match leaf`
//! (curl) against `chain` (OkHttp, Android, the delegate), and `--missing-pin fail-open` (OkHttp,
//! Approov) against `fail-closed` (the delegate, Wultra's `EMPTY`).

use serde::Serialize;

use crate::rules::HostGlob;

/// Which certificates of the verified path a pin may match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    /// Any certificate of the verified path, trust anchor included (OkHttp, Android NSC, the
    /// seed article's delegate).
    #[default]
    Chain,
    /// The leaf only (curl's `--pinnedpubkey`).
    Leaf,
}

/// What to do with a host that has no pins while pinning is configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MissingPin {
    /// Cancel (the seed article's delegate; Wultra's `EMPTY` result).
    #[default]
    FailClosed,
    /// Let it through on trust alone (OkHttp, Approov).
    FailOpen,
}

/// Pins for the hosts a pattern matches, or for every host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinEntry {
    /// The hosts; `None` is every host (pins given without `--pinned-host`).
    pub hosts: Option<HostGlob>,
    /// Pins (base64 SPKI SHA-256), in the order given.
    pub pins: Vec<String>,
}

/// The pins and the rules that apply them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The pins by host. For a host, the most specific matching pattern's entry applies (an
    /// exact host before `*.parent`, a nearer parent before a farther one), else an entry for
    /// every host.
    pub entries: Vec<PinEntry>,
    /// What a host without pins gets.
    pub missing_pin: MissingPin,
    /// Which certificates a pin may match.
    pub match_mode: MatchMode,
}

/// What the policy says about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No pins are configured at all: trust evaluation alone decides (it passed).
    NotPinning,
    /// Certificate `position` of the path has pin `pin`, one of the host's.
    Matched {
        /// Position in the verified path (0 is the leaf).
        position: usize,
        /// The pin that matched.
        pin: String,
    },
    /// None of the certificates checked has one of the host's pins.
    Mismatch {
        /// How many certificates of the path were checked (1 in leaf mode).
        checked: usize,
    },
    /// Pinning is configured but not for this host.
    NoPinsForHost(MissingPin),
}

impl Decision {
    /// Whether the client goes on to send its request.
    pub fn proceeds(&self) -> bool {
        match self {
            Decision::NotPinning | Decision::Matched { .. } => true,
            Decision::Mismatch { .. } => false,
            Decision::NoPinsForHost(missing) => *missing == MissingPin::FailOpen,
        }
    }
}

impl Policy {
    /// The policy of `--pin` and `--pinned-host`: the pins for each pattern, or for every host
    /// when no pattern is given.
    pub fn from_flags(
        pins: Vec<String>,
        pinned_hosts: Vec<HostGlob>,
        missing_pin: MissingPin,
        match_mode: MatchMode,
    ) -> Self {
        let entries = if pins.is_empty() {
            Vec::new()
        } else if pinned_hosts.is_empty() {
            vec![PinEntry { hosts: None, pins }]
        } else {
            pinned_hosts
                .into_iter()
                .map(|g| PinEntry {
                    hosts: Some(g),
                    pins: pins.clone(),
                })
                .collect()
        };
        Self {
            entries,
            missing_pin,
            match_mode,
        }
    }

    /// Whether any pin is configured.
    pub fn is_pinning(&self) -> bool {
        self.entries.iter().any(|e| !e.pins.is_empty())
    }

    /// The pins for `host`.
    pub fn pins_for(&self, host: &str) -> &[String] {
        let scoped: Vec<(&HostGlob, &PinEntry)> = self
            .entries
            .iter()
            .filter_map(|e| e.hosts.as_ref().map(|g| (g, e)))
            .collect();
        if let Some((_, entry)) = crate::rules::most_specific(&scoped, |(g, _)| g, host) {
            return &entry.pins;
        }
        self.entries
            .iter()
            .find(|e| e.hosts.is_none())
            .map_or(&[], |e| e.pins.as_slice())
    }

    /// The host patterns the pins are scoped to (empty when they are for every host).
    pub fn scope(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self.entries.iter().filter_map(|e| e.hosts.as_ref()) {
            if !out.iter().any(|o| o == g.as_str()) {
                out.push(g.as_str().to_string());
            }
        }
        out
    }

    /// Decides for `host` whose verified path has these pins (leaf first, anchor last).
    pub fn decide(&self, host: &str, path_pins: &[&str]) -> Decision {
        if !self.is_pinning() {
            return Decision::NotPinning;
        }
        let pins = self.pins_for(host);
        if pins.is_empty() {
            return Decision::NoPinsForHost(self.missing_pin);
        }
        let checked = match self.match_mode {
            MatchMode::Chain => path_pins.len(),
            MatchMode::Leaf => path_pins.len().min(1),
        };
        path_pins
            .iter()
            .take(checked)
            .enumerate()
            .find(|(_, pin)| pins.iter().any(|p| p == *pin))
            .map_or(Decision::Mismatch { checked }, |(position, pin)| {
                Decision::Matched {
                    position,
                    pin: (*pin).to_string(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = "leaf";
    const INT: &str = "int";
    const ROOT: &str = "root";
    const PATH: [&str; 3] = [LEAF, INT, ROOT];

    fn policy(pins: &[&str], hosts: &[&str], missing: MissingPin, mode: MatchMode) -> Policy {
        Policy::from_flags(
            pins.iter().map(|p| p.to_string()).collect(),
            hosts.iter().map(|h| HostGlob::parse(h).unwrap()).collect(),
            missing,
            mode,
        )
    }

    #[test]
    fn no_pins_at_all_is_trust_alone() {
        let p = Policy::default();
        assert_eq!(p.decide("api.test", &PATH), Decision::NotPinning);
        assert!(p.decide("api.test", &PATH).proceeds());
        // --pinned-host without pins pins nothing either.
        let p = policy(&[], &["api.test"], MissingPin::FailClosed, MatchMode::Chain);
        assert_eq!(p.decide("other.test", &PATH), Decision::NotPinning);
    }

    #[test]
    fn chain_mode_matches_any_certificate_leaf_first() {
        let p = policy(&[ROOT, INT], &[], MissingPin::FailClosed, MatchMode::Chain);
        // The intermediate comes before the root on the path, whatever order the pins are in.
        assert_eq!(
            p.decide("api.test", &PATH),
            Decision::Matched {
                position: 1,
                pin: INT.into()
            }
        );
        let p = policy(&[ROOT], &[], MissingPin::FailClosed, MatchMode::Chain);
        assert!(p.decide("api.test", &PATH).proceeds());
        let p = policy(&["other"], &[], MissingPin::FailClosed, MatchMode::Chain);
        assert_eq!(
            p.decide("api.test", &PATH),
            Decision::Mismatch { checked: 3 }
        );
    }

    #[test]
    fn leaf_mode_checks_the_leaf_only() {
        let p = policy(&[INT, ROOT], &[], MissingPin::FailClosed, MatchMode::Leaf);
        assert_eq!(
            p.decide("api.test", &PATH),
            Decision::Mismatch { checked: 1 }
        );
        let p = policy(
            &["backup", LEAF],
            &[],
            MissingPin::FailClosed,
            MatchMode::Leaf,
        );
        assert_eq!(
            p.decide("api.test", &PATH),
            Decision::Matched {
                position: 0,
                pin: LEAF.into()
            }
        );
        assert_eq!(p.decide("api.test", &[]), Decision::Mismatch { checked: 0 });
    }

    #[test]
    fn pinned_hosts_scope_the_pins_and_missing_pin_decides_the_rest() {
        for missing in [MissingPin::FailClosed, MissingPin::FailOpen] {
            let p = policy(
                &[LEAF],
                &["api.test", "*.cdn.test"],
                missing,
                MatchMode::Chain,
            );
            assert!(p.decide("api.test", &PATH).proceeds());
            assert!(p.decide("a.cdn.test", &PATH).proceeds());
            let other = p.decide("other.test", &PATH);
            assert_eq!(other, Decision::NoPinsForHost(missing));
            assert_eq!(other.proceeds(), missing == MissingPin::FailOpen);
            // A host with pins that do not match is refused in both modes.
            let p = policy(&["nope"], &["api.test"], missing, MatchMode::Chain);
            assert!(!p.decide("api.test", &PATH).proceeds());
        }
        // Unscoped pins apply to every host: a pin for another host fails (curl's behaviour).
        let p = policy(&["cdn-pin"], &[], MissingPin::FailOpen, MatchMode::Leaf);
        assert_eq!(
            p.decide("api.test", &PATH),
            Decision::Mismatch { checked: 1 }
        );
    }

    #[test]
    fn per_host_entries_take_the_most_specific_pattern() {
        let entry = |h: &str, pins: &[&str]| PinEntry {
            hosts: Some(HostGlob::parse(h).unwrap()),
            pins: pins.iter().map(|p| p.to_string()).collect(),
        };
        let p = Policy {
            entries: vec![
                entry("*.example.test", &["wide"]),
                entry("api.example.test", &[LEAF]),
                entry("*.eu.example.test", &[INT]),
            ],
            ..Policy::default()
        };
        assert_eq!(p.pins_for("api.example.test"), [LEAF.to_string()]);
        assert_eq!(p.pins_for("a.eu.example.test"), [INT.to_string()]);
        assert_eq!(p.pins_for("cdn.example.test"), ["wide".to_string()]);
        assert!(p.pins_for("other.test").is_empty());
        assert_eq!(
            p.decide("other.test", &PATH),
            Decision::NoPinsForHost(MissingPin::FailClosed)
        );
        assert_eq!(
            p.scope(),
            ["*.example.test", "api.example.test", "*.eu.example.test"]
        );
    }
}
