//! The metric names (`nakku_…`) the alert rules and Grafana dashboards under `deploy/` use,
//! shared by the tests that hold them against the code and against a real scrape.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `nakku_…` name in these files under `deploy/` (histograms with their suffixes).
pub fn in_deploy(files: &[&str]) -> BTreeSet<String> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut rest = text.as_str();
        while let Some(i) = rest.find("nakku_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}
