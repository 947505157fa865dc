//! Headless Chromium for the tests: found on PATH (its absence skips a test, except under
//! `CI=true`), run with background networking off and through a proxy of the test's own that
//! reaches only the test's hosts, its whole process group killed at the end.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bound on one Chromium run (start, load, dump).
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// `chromium` on PATH; `None` (the test skips, saying why) where it is missing, which under
/// `CI=true` is a failure.
pub fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing under CI=true (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium through the proxy at `proxy` on `url` and returns the DOM after load. Killed
/// (with its whole process group) after [`BROWSER_TIMEOUT`].
pub fn dump_dom(chromium: &Path, proxy: SocketAddr, url: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let profile = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-breakpad",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://{proxy}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever is left of the browser (renderers, zygotes) goes with its group.
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.wait();
    let dom = reader.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("chromium ran over {BROWSER_TIMEOUT:?}"));
    assert!(status.success(), "chromium exit {status:?}; DOM: {dom}");
    eprintln!("chromium --dump-dom took {:?}", started.elapsed());
    dom
}
