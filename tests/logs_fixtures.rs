//! Every fixture under tests/fixtures/logs (public excerpts, real runs, logs built from the
//! libraries' own text; SOURCES.md says which) through the log reader, compared with its sidecar:
//! format, line, host, port, presented and pinned pins, pin kind, diagnosis and count. All
//! mismatches are listed at once.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

#[test]
fn every_fixture_reads_as_its_sidecar_says() {
    let logs = fixtures();
    assert!(logs.len() >= 40, "fixtures missing: {}", logs.len());
    let mut problems = Vec::new();
    for log in &logs {
        let name = log
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(log.with_extension("json")).expect("a sidecar per fixture"),
        )
        .expect("a JSON sidecar");
        let expected = sidecar["failures"].as_array().cloned().unwrap_or_default();
        let file = std::fs::File::open(log).expect("open the fixture");
        let got = match pin_proxy::logs::explain(file) {
            Ok(e) => e.failures,
            Err(e) => {
                problems.push(format!("{name}: not read: {e:?}"));
                continue;
            }
        };
        let got: Vec<Value> = got
            .iter()
            .map(|f| serde_json::to_value(f).expect("a failure serializes"))
            .collect();
        if got.len() != expected.len() {
            problems.push(format!(
                "{name}: {} failures, expected {}:\n  got {}",
                got.len(),
                expected.len(),
                got.iter()
                    .map(|g| format!(
                        "{}@{} {} {}",
                        g["format"], g["line"], g["host"], g["diagnosis"]
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            continue;
        }
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            for field in [
                "format",
                "line",
                "host",
                "port",
                "presented_pins",
                "pinned_pins",
                "pin_kind",
                "diagnosis",
                "count",
            ] {
                if g[field] != e[field] {
                    problems.push(format!(
                        "{name} #{i} {field}: got {} expected {}",
                        g[field], e[field]
                    ));
                }
            }
            if let Some(pins) = e.get("presented_chain_pins") {
                let chain: Vec<Value> = g["presented_chain"]
                    .as_array()
                    .map(|c| c.iter().map(|c| c["pin"].clone()).collect())
                    .unwrap_or_default();
                if Value::Array(chain.clone()) != *pins {
                    problems.push(format!(
                        "{name} #{i} presented_chain pins: got {chain:?} expected {pins}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
