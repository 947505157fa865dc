//! The iOS simulator: `xcrun simctl keychain booted add-root-cert <ca.pem>` adds the CA to the
//! booted simulator's trust store (no profile, no Certificate Trust Settings switch). The
//! simulator uses the Mac's own proxy settings, so the proxy is set in macOS, not in the simulator.
//!
//! Where `xcrun` does not exist (not a Mac, or no Xcode) nothing is run: the exact commands and
//! steps are printed for the Mac. [`steps`] is pure; [`setup`] runs `xcrun` with a timeout.

use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

/// The `simctl` command line that adds `ca_file` to the booted simulator.
pub fn add_root_cert_command(ca_file: &str) -> Vec<String> {
    [
        "xcrun",
        "simctl",
        "keychain",
        "booted",
        "add-root-cert",
        ca_file,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What to tell the user: the command (run, or to run on the Mac) and the macOS proxy steps.
pub fn steps(ca_file: &str, port: u16, xcrun_ran: bool) -> Vec<String> {
    let command = add_root_cert_command(ca_file)
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut lines = Vec::new();
    if xcrun_ran {
        lines.push(format!("ran: {command}"));
        lines.push("the booted simulator trusts the pin-proxy CA".to_string());
    } else {
        lines.push(
            "xcrun not found (it comes with Xcode, on macOS): nothing was run. On the Mac, with \
             the simulator booted, run:"
                .to_string(),
        );
        lines.push(format!("  {command}"));
    }
    lines.push(format!(
        "the simulator uses the Mac's proxy: System Settings → Network → (your network) → \
         Details… → Proxies → turn on Web proxy (HTTP) and Secure web proxy (HTTPS), server \
         127.0.0.1, port {port}"
    ));
    lines.push(format!(
        "  or: networksetup -setwebproxy Wi-Fi 127.0.0.1 {port} && networksetup \
         -setsecurewebproxy Wi-Fi 127.0.0.1 {port} (turn off again with -setwebproxystate Wi-Fi \
         off and -setsecurewebproxystate Wi-Fi off)"
    ));
    lines.push(
        "apps that ignore the system proxy (Flutter's HttpClient) need another capture".to_string(),
    );
    lines
}

/// Runs `xcrun simctl keychain booted add-root-cert` if `xcrun` exists; returns the lines to print.
pub fn setup(ca_file: &str, port: u16, timeout: Duration) -> Result<Vec<String>> {
    let argv = add_root_cert_command(ca_file);
    let mut child = match Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(steps(ca_file, port, false)),
        Err(e) => return Err(Error::runtime(format!("cannot start xcrun: {e}"))),
    };
    let status = match super::wait_bounded(&mut child, timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            return Err(Error::runtime(format!(
                "xcrun simctl did not finish within {} s",
                timeout.as_secs()
            )))
        }
        Err(e) => return Err(Error::runtime(format!("cannot wait for xcrun: {e}"))),
    };
    if !status.success() {
        return Err(Error::runtime(format!(
            "xcrun simctl keychain booted add-root-cert failed ({status}): is a simulator booted? \
             (`xcrun simctl list devices booted`)"
        )));
    }
    Ok(steps(ca_file, port, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_xcrun_the_command_and_proxy_steps_are_printed() {
        let lines = steps("/ca dir/ca.pem", 8081, false).join("\n");
        assert!(lines.contains("xcrun not found"), "{lines}");
        assert!(lines.contains("  xcrun simctl keychain booted add-root-cert '/ca dir/ca.pem'"));
        assert!(lines.contains("server 127.0.0.1, port 8081"));
        assert!(lines.contains("networksetup -setsecurewebproxy Wi-Fi 127.0.0.1 8081"));
    }

    #[test]
    fn with_xcrun_it_says_what_ran() {
        let lines = steps("/ca/ca.pem", 8080, true).join("\n");
        assert!(lines.starts_with("ran: xcrun simctl keychain booted add-root-cert /ca/ca.pem"));
    }
}
