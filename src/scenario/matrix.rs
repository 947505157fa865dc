//! The standard matrix: the four families every pinning test needs (plus chain pins), expanded
//! into cases so a suite does not write them by hand.
//!
//! | family | origin key | proxy | pins | expected |
//! |---|---|---|---|---|
//! | pinned | current | intercept | current | cancelled |
//! | pinned | current | passthrough | current | proceeded |
//! | unpinned | current | intercept / passthrough | none | proceeded |
//! | rotated | next | passthrough | current | cancelled |
//! | rotated | next | passthrough / intercept | current + next | proceeded / cancelled |
//! | missing-pin | current | intercept / passthrough | another origin's | `missing_pin` |
//! | chain | current | passthrough | intermediate / root | proceeded if `chain_pins`, else cancelled |
//! | chain | current | intercept | intermediate / root | cancelled |
//! | smuggle-chain | current | `smuggle-chain` | intermediate / root | cancelled (`chain_pins` clients only) |
//!
//! An origin whose chain has depth 2 (the root signs the leaf) has no intermediate: its chain
//! family keeps the root variants, and a note says the intermediate ones were skipped; so does
//! its smuggle-chain family. `smuggle-chain` sends the origin's real intermediate and root after
//! the forged leaf and the local CA: a client that pins the verified path refuses, one that
//! checks the certificates sent is fooled. A leaf-only client cannot be (its pins never match a
//! CA), so the family is skipped for it with a note.

use crate::case_record::Expected;
use crate::rules::{Action, Profile};

use super::model::{Case, Family, Origin, PinRef};

/// What `[matrix]` asks for, resolved against the suite's origins.
#[derive(Clone, Debug)]
pub struct MatrixSpec {
    /// Indices of the origins to expand for.
    pub origins: Vec<usize>,
    /// Families to expand.
    pub families: Vec<Family>,
    /// Whether `families` was written (else it is every family, and one that cannot apply is
    /// skipped with a note instead of an error).
    pub families_given: bool,
    /// What the client does for a host it has no pins for, while it has pins for others.
    pub missing_pin: Option<Expected>,
    /// Whether the client accepts a pin on any certificate of the chain (OkHttp, Android) or
    /// checks the leaf only (curl).
    pub chain_pins: Option<bool>,
}

/// The generated cases, and notes on families that did not apply.
pub fn expand(spec: &MatrixSpec, origins: &[Origin]) -> Result<(Vec<Case>, Vec<String>), String> {
    let mut cases = Vec::new();
    let mut notes = Vec::new();
    for &family in &spec.families {
        // Whether the family can apply at all, and what it needs.
        let skip = match family {
            Family::MissingPin if origins.len() < 2 => {
                Some("needs a second origin whose pins the client holds".to_string())
            }
            Family::Rotated => spec
                .origins
                .iter()
                .find(|&&o| origins[o].keys.len() < 2)
                .map(|&o| {
                    format!(
                        "origin {:?} has a single key (add keys = [\"current\", \"next\"])",
                        origins[o].name
                    )
                }),
            Family::SmuggleChain if spec.chain_pins == Some(false) => Some(
                "this client checks the leaf only (chain_pins = false): the smuggled CA \
                 certificates cannot match its pins"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(why) = skip {
            if spec.families_given {
                return Err(format!("families: {}: {why}", family.name()));
            }
            notes.push(format!("{}: skipped, {why}", family.name()));
            continue;
        }
        if family == Family::MissingPin && spec.missing_pin.is_none() {
            return Err(
                "missing_pin: say what this client does for a host it has no pins for \
                        while it has pins for others: \"cancelled\" (fails closed) or \
                        \"proceeded\" (fails open, as OkHttp does)"
                    .to_string(),
            );
        }
        if matches!(family, Family::Chain | Family::SmuggleChain) && spec.chain_pins.is_none() {
            return Err(
                "chain_pins: say whether this client accepts a pin on any certificate of \
                        the chain (true, as OkHttp and Android do) or checks the leaf only \
                        (false, as curl does)"
                    .to_string(),
            );
        }
        for &o in &spec.origins {
            family_cases(family, o, origins, spec, &mut cases, &mut notes);
        }
    }
    Ok((cases, notes))
}

fn family_cases(
    family: Family,
    o: usize,
    origins: &[Origin],
    spec: &MatrixSpec,
    out: &mut Vec<Case>,
    notes: &mut Vec<String>,
) {
    let origin = &origins[o];
    let current = origin.keys[0].clone();
    let key = |name: &str| PinRef::Key {
        origin: o,
        key: name.to_string(),
    };
    let intercept = Action::Intercept(Profile::Forged);
    let smuggle = Action::Intercept(Profile::SmuggleChain);
    let mut push =
        |variant: &str, origin_key: &str, action, pins: Vec<PinRef>, expect, reason: String| {
            out.push(Case {
                name: format!("{}/{}/{variant}", origin.name, family.name()),
                family: Some(family),
                origin: o,
                action,
                origin_key: origin_key.to_string(),
                pins,
                pinned_host: None,
                expect,
                reason,
                timeout: None,
                env: Vec::new(),
                before: None,
                steps: Vec::new(),
            });
        };
    let n = &origin.name;
    match family {
        Family::Pinned => {
            push(
                "intercept",
                &current,
                intercept,
                vec![key(&current)],
                Expected::Cancelled,
                format!("pins {n}.{current}: a forged leaf must be refused"),
            );
            push(
                "passthrough",
                &current,
                Action::Passthrough,
                vec![key(&current)],
                Expected::Proceeded,
                format!("pins {n}.{current}: the real server must still work"),
            );
        }
        Family::Unpinned => {
            push(
                "intercept",
                &current,
                intercept,
                vec![],
                Expected::Proceeded,
                "no pins: a leaf from a trusted CA is accepted, so the proxy reads the traffic"
                    .to_string(),
            );
            push(
                "passthrough",
                &current,
                Action::Passthrough,
                vec![],
                Expected::Proceeded,
                "no pins, no proxy: the baseline that the client works at all".to_string(),
            );
        }
        Family::Rotated => {
            let next = origin.keys[1].clone();
            push(
                "current-only",
                &next,
                Action::Passthrough,
                vec![key(&current)],
                Expected::Cancelled,
                format!(
                    "the server moved to {n}.{next}; a client pinning only {n}.{current} goes dark"
                ),
            );
            push(
                "with-backup",
                &next,
                Action::Passthrough,
                vec![key(&current), key(&next)],
                Expected::Proceeded,
                format!("the backup pin {n}.{next} keeps the client working after the rotation"),
            );
            push(
                "with-backup-intercept",
                &next,
                intercept,
                vec![key(&current), key(&next)],
                Expected::Cancelled,
                "a backup pin must not let a forged leaf through".to_string(),
            );
        }
        Family::MissingPin => {
            let other = (o + 1) % origins.len();
            let pinned = PinRef::Key {
                origin: other,
                key: origins[other].keys[0].clone(),
            };
            let expect = spec.missing_pin.unwrap_or(Expected::Cancelled);
            let how = match expect {
                Expected::Cancelled => "fails closed",
                Expected::Proceeded => "fails open",
            };
            let other_host = &origins[other].host;
            for (variant, action) in [
                ("intercept", intercept),
                ("passthrough", Action::Passthrough),
            ] {
                push(
                    variant,
                    &current,
                    action,
                    vec![pinned.clone()],
                    expect,
                    format!(
                        "pins only {other_host}; for {} this client {how}",
                        origin.host
                    ),
                );
            }
            for case in out.iter_mut().rev().take(2) {
                case.pinned_host = Some(other_host.clone());
            }
        }
        Family::SmuggleChain => {
            for (level, pin) in chain_levels(family, o, origin, notes) {
                push(
                    level,
                    &current,
                    smuggle,
                    vec![pin],
                    Expected::Cancelled,
                    format!(
                        "the proxy sends {n}'s real {level} after its own CA: a client that pins \
                         the verified path refuses it"
                    ),
                );
            }
        }
        Family::Chain => {
            let any = spec.chain_pins.unwrap_or(false);
            let levels = chain_levels(family, o, origin, notes);
            for (level, pin) in levels {
                let (expect, reason) = if any {
                    (
                        Expected::Proceeded,
                        format!("a pin on the {level} matches the real chain"),
                    )
                } else {
                    (
                        Expected::Cancelled,
                        format!(
                            "this client checks the leaf only: a pin on the {level} never matches"
                        ),
                    )
                };
                push(
                    &format!("{level}-passthrough"),
                    &current,
                    Action::Passthrough,
                    vec![pin.clone()],
                    expect,
                    reason,
                );
                push(
                    &format!("{level}-intercept"),
                    &current,
                    intercept,
                    vec![pin],
                    Expected::Cancelled,
                    format!("the forged chain does not contain {n}'s {level}"),
                );
            }
        }
    }
}

/// The chain levels a family's cases pin, intermediate first: the root alone (and a note) for
/// an origin whose chain has no intermediate.
fn chain_levels(
    family: Family,
    o: usize,
    origin: &Origin,
    notes: &mut Vec<String>,
) -> Vec<(&'static str, PinRef)> {
    let mut levels = vec![("root", PinRef::Root(o))];
    if origin.depth() > 2 {
        levels.insert(0, ("intermediate", PinRef::Intermediate(o)));
    } else {
        notes.push(format!(
            "{}: intermediate variants skipped for origin {:?}, whose chain of depth {} has no \
             intermediate (the root signs the leaf)",
            family.name(),
            origin.name,
            origin.depth()
        ));
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::pki::ChainSpec;

    fn origins(n: usize) -> Vec<Origin> {
        ["api", "cdn"][..n]
            .iter()
            .map(|name| Origin {
                name: (*name).to_string(),
                host: format!("{name}.example.test"),
                keys: vec!["current".into(), "next".into()],
                chain: ChainSpec::default(),
                upstream: None,
            })
            .collect()
    }

    fn spec(families: &[Family], given: bool) -> MatrixSpec {
        MatrixSpec {
            origins: vec![0],
            families: families.to_vec(),
            families_given: given,
            missing_pin: Some(Expected::Proceeded),
            chain_pins: Some(false),
        }
    }

    #[test]
    fn every_family_expands_with_its_expectations() {
        let (cases, notes) = expand(&spec(&Family::ALL, false), &origins(2)).unwrap();
        assert_eq!(
            notes,
            [
                "smuggle-chain: skipped, this client checks the leaf only (chain_pins = false): \
              the smuggled CA certificates cannot match its pins"
            ]
        );
        let summary: Vec<String> = cases
            .iter()
            .map(|c| format!("{} {} {}", c.name, c.proxy_label(), c.expect))
            .collect();
        assert_eq!(
            summary,
            [
                "api/pinned/intercept intercept cancelled",
                "api/pinned/passthrough passthrough proceeded",
                "api/unpinned/intercept intercept proceeded",
                "api/unpinned/passthrough passthrough proceeded",
                "api/rotated/current-only passthrough cancelled",
                "api/rotated/with-backup passthrough proceeded",
                "api/rotated/with-backup-intercept intercept cancelled",
                "api/missing-pin/intercept intercept proceeded",
                "api/missing-pin/passthrough passthrough proceeded",
                "api/chain/intermediate-passthrough passthrough cancelled",
                "api/chain/intermediate-intercept intercept cancelled",
                "api/chain/root-passthrough passthrough cancelled",
                "api/chain/root-intercept intercept cancelled",
            ]
        );
        let rotated = &cases[4];
        assert_eq!(rotated.origin_key, "next");
        let missing = &cases[7..9];
        assert!(missing
            .iter()
            .all(|c| c.pinned_host.as_deref() == Some("cdn.example.test")
                && c.pins
                    == [PinRef::Key {
                        origin: 1,
                        key: "current".into()
                    }]));
    }

    #[test]
    fn chain_pins_flip_the_passthrough_expectation() {
        let mut s = spec(&[Family::Chain], true);
        s.chain_pins = Some(true);
        let (cases, _) = expand(&s, &origins(1)).unwrap();
        assert_eq!(cases[0].expect, Expected::Proceeded);
        assert_eq!(cases[1].expect, Expected::Cancelled);
    }

    #[test]
    fn a_family_that_cannot_apply_is_a_note_or_an_error() {
        let (cases, notes) = expand(&spec(&Family::ALL, false), &origins(1)).unwrap();
        assert!(cases.iter().all(|c| c.family != Some(Family::MissingPin)));
        assert_eq!(notes.len(), 2);
        assert!(notes[0].starts_with("missing-pin: skipped"), "{notes:?}");
        assert!(notes[1].starts_with("smuggle-chain: skipped"), "{notes:?}");
        let err = expand(&spec(&[Family::SmuggleChain], true), &origins(1)).unwrap_err();
        assert!(err.starts_with("families: smuggle-chain: this client checks the leaf only"));
        let err = expand(&spec(&[Family::MissingPin], true), &origins(1)).unwrap_err();
        assert!(err.starts_with("families: missing-pin:"), "{err}");
        let mut s = spec(&[Family::Chain], true);
        s.chain_pins = None;
        assert!(expand(&s, &origins(1))
            .unwrap_err()
            .starts_with("chain_pins:"));
    }

    #[test]
    fn smuggle_chain_cases_pin_the_real_ca_certificates_and_expect_a_cancel() {
        let mut s = spec(&[Family::SmuggleChain], true);
        s.chain_pins = Some(true);
        let mut two = origins(2);
        two[1].chain = ChainSpec::generated(2).unwrap();
        s.origins = vec![0, 1];
        let (cases, notes) = expand(&s, &two).unwrap();
        let summary: Vec<String> = cases
            .iter()
            .map(|c| format!("{} {} {} {:?}", c.name, c.proxy_label(), c.expect, c.pins))
            .collect();
        assert_eq!(
            summary,
            [
                "api/smuggle-chain/intermediate smuggle-chain cancelled [Intermediate(0)]",
                "api/smuggle-chain/root smuggle-chain cancelled [Root(0)]",
                "cdn/smuggle-chain/root smuggle-chain cancelled [Root(1)]",
            ]
        );
        assert!(cases[0]
            .reason
            .contains("api's real intermediate after its own CA"));
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with("smuggle-chain: intermediate variants skipped for origin \"cdn\"")
        );
    }

    #[test]
    fn at_depth_2_the_chain_family_keeps_the_root_and_notes_the_intermediate() {
        let mut two = origins(2);
        two[0].chain = ChainSpec::generated(2).unwrap();
        two[1].chain = ChainSpec::generated(5).unwrap();
        let mut s = spec(&[Family::Chain], true);
        s.origins = vec![0, 1];
        let (cases, notes) = expand(&s, &two).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "api/chain/root-passthrough",
                "api/chain/root-intercept",
                "cdn/chain/intermediate-passthrough",
                "cdn/chain/intermediate-intercept",
                "cdn/chain/root-passthrough",
                "cdn/chain/root-intercept",
            ]
        );
        assert_eq!(cases[0].pins, [PinRef::Root(0)]);
        assert_eq!(cases[2].pins, [PinRef::Intermediate(1)]);
        assert_eq!(
            notes,
            [
                "chain: intermediate variants skipped for origin \"api\", whose chain of depth 2 \
              has no intermediate (the root signs the leaf)"
            ]
        );
    }
}
