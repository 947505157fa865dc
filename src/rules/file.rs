//! The rules file (`--rules FILE`): TOML with one `[[rule]]` table per host pattern.
//!
//! ```toml
//! [[rule]]
//! hosts = "*.cdn.example.com"
//! action = "passthrough"
//!
//! [[rule]]
//! hosts = "api.example.com"
//! profile = "expired"          # action = "intercept" is implied by a profile
//! ```
//! Unknown keys are errors. Errors name the file, the line and the field.

use serde::Deserialize;

use super::{Action, HostGlob, Profile, Rule};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    hosts: toml::Spanned<String>,
    #[serde(default)]
    action: Option<toml::Spanned<String>>,
    #[serde(default)]
    profile: Option<toml::Spanned<String>>,
}

/// 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A parser's message on one line: a quoted key may hold a line break, which is escaped.
pub fn one_line(message: &str) -> String {
    message.trim().replace('\r', "\\r").replace('\n', "\\n")
}

/// Parses a rules file; `name` is used in errors, which read `name:line: field: message`.
pub fn parse(name: &str, text: &str) -> Result<Vec<Rule>, String> {
    Ok(parse_with_lines(name, text)?
        .into_iter()
        .map(|(rule, _)| rule)
        .collect())
}

/// [`parse`], with the line of each rule's `hosts` (1-based).
pub fn parse_with_lines(name: &str, text: &str) -> Result<Vec<(Rule, usize)>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        format!("{name}:{line}: {}", one_line(e.message()))
    })?;
    let mut rules = Vec::new();
    for raw in file.rule {
        let raw = raw.into_inner();
        let at = |span: std::ops::Range<usize>| line_of(text, span.start);
        let hosts = HostGlob::parse(raw.hosts.get_ref())
            .map_err(|e| format!("{name}:{}: hosts: {e}", at(raw.hosts.span())))?;
        let profile = match &raw.profile {
            Some(p) => Some(
                p.get_ref()
                    .parse::<Profile>()
                    .map_err(|e| format!("{name}:{}: profile: {e}", at(p.span())))?,
            ),
            None => None,
        };
        let action = match raw.action.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
            None | Some(("intercept", _)) => Action::Intercept(profile.unwrap_or(Profile::Forged)),
            Some(("passthrough", span)) => {
                if profile.is_some() {
                    return Err(format!(
                        "{name}:{}: profile: a passthrough rule presents no certificate",
                        at(span)
                    ));
                }
                Action::Passthrough
            }
            Some((other, span)) => {
                return Err(format!(
                    "{name}:{}: action: unknown action {other:?} (expected \"intercept\" or \"passthrough\")",
                    at(span)
                ))
            }
        };
        rules.push((Rule { hosts, action }, at(raw.hosts.span())));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let text = "[[rule]]\nhosts = \"*.cdn.test\"\naction = \"passthrough\"\n\n[[rule]]\nhosts = \"api.test\"\nprofile = \"expired\"\n";
        let rules = parse("r.toml", text).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].action, Action::Passthrough);
        assert_eq!(rules[1].action, Action::Intercept(Profile::Expired));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse(
            "r.toml",
            "[[rule]]\nhosts = \"a.test\"\nprofile = \"nope\"\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("r.toml:3: profile: unknown profile"),
            "{err}"
        );
        let err = parse("r.toml", "[[rule]]\nhosts = \"a.test\"\ncolour = 1\n").unwrap_err();
        assert!(
            err.starts_with("r.toml:3:") && err.contains("colour"),
            "{err}"
        );
        let err = parse("r.toml", "\n[[rule]]\nhosts = \"a b\"\n").unwrap_err();
        assert!(err.starts_with("r.toml:3: hosts:"), "{err}");
        let err = parse("r.toml", "[[rule]]\nhosts = \"a\"\naction = \"drop\"\n").unwrap_err();
        assert!(err.starts_with("r.toml:3: action:"), "{err}");
        assert!(parse("r.toml", "[[rule]\n")
            .unwrap_err()
            .starts_with("r.toml:1:"));
    }
}
