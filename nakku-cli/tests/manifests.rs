//! The Kubernetes manifests (`deploy/kubernetes/`, written by its generate.py) against the
//! code: every service has its Deployment, Service, PodDisruptionBudget and autoscaler, on
//! its port, with both probes, the addresses of the services it calls, its secrets as
//! files, and only settings this binary knows; every kustomization's resources exist.
//! (Schema validation against the Kubernetes API is `.ci/run`'s, with kubernetes-validate.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use nakku_core::service::Service;

#[path = "support/metric_names.rs"]
mod metric_names;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// The documents of a generated file (JSON documents between `---` lines: valid YAML).
fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn known_setting(var: &str) -> bool {
    let keys: Vec<String> = nakku_core::config::documented_keys()
        .into_iter()
        .map(|k| format!("NAKKU_{}", k.key.to_uppercase()))
        .collect();
    let base = var.strip_suffix("_FILE").unwrap_or(var);
    keys.iter().any(|k| k == var || k == base)
}

#[test]
fn every_service_has_its_deployment_service_budget_and_autoscaler_matching_the_code() {
    let config = docs(&root().join("config/config.yaml"));
    for var in of_kind(&config, "ConfigMap")["data"].as_object().unwrap().keys() {
        assert!(
            known_setting(var),
            "the ConfigMap sets {var}, which nakku does not know"
        );
    }
    let base = docs(&root().join("base/kustomization.yaml"));
    let listed: Vec<&str> = base[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for svc in Service::IMPLEMENTED {
        let name = svc.name();
        assert!(
            listed.contains(&format!("{name}.yaml").as_str()),
            "base lists {name}.yaml"
        );
        let d = docs(&root().join(format!("base/{name}.yaml")));
        for kind in [
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
        ] {
            assert_eq!(
                of_kind(&d, kind)["metadata"]["name"],
                format!("nakku-{name}"),
                "{kind} of {name}"
            );
        }
        let deploy = of_kind(&d, "Deployment");
        let pod = &deploy["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["args"], serde_json::json!(["serve", "--service", name]));
        assert_eq!(c["ports"][0]["containerPort"], svc.default_port(), "{name}");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{name}");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez", "{name}");
        // Service links would put NAKKU_GATEWAY_PORT=tcp://… in the environment.
        assert_eq!(pod["enableServiceLinks"], false, "{name}");
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(c["securityContext"]["runAsNonRoot"], true, "{name}");
        let env: Vec<(&str, &str)> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap_or("")))
            .collect();
        for (var, _) in &env {
            assert!(known_setting(var), "{name} sets {var}, which nakku does not know");
        }
        for peer in svc.calls() {
            let want = format!("http://nakku-{}:{}", peer.name(), peer.default_port());
            let var = format!("NAKKU_{}_URL", peer.env_name());
            assert!(
                env.contains(&(var.as_str(), want.as_str())),
                "{name} calls {peer}: needs {var}={want}"
            );
        }
        for secret in ["NAKKU_JWT_SECRET_FILE", "NAKKU_DATABASE_URL_FILE"] {
            assert!(env.iter().any(|(v, _)| *v == secret), "{name} reads {secret}");
        }
        assert!(
            !env.iter()
                .any(|(v, _)| *v == "NAKKU_JWT_SECRET" || *v == "NAKKU_DATABASE_URL"),
            "{name}: secrets come from files, not the environment"
        );
        let svc_doc = of_kind(&d, "Service");
        assert_eq!(svc_doc["spec"]["ports"][0]["port"], svc.default_port());
        assert_eq!(svc_doc["spec"]["selector"], deploy["spec"]["selector"]["matchLabels"]);
    }
}

#[test]
fn every_kustomization_names_resources_that_exist() {
    let mut seen = 0;
    for dir in [
        "base",
        "config",
        "migrate",
        "overlays/production",
        "overlays/all-in-one",
    ] {
        let k = docs(&root().join(dir).join("kustomization.yaml"));
        for r in k[0]["resources"].as_array().unwrap() {
            let path = root().join(dir).join(r.as_str().unwrap());
            assert!(path.exists(), "{dir}/kustomization.yaml names {}", path.display());
            seen += 1;
        }
    }
    assert!(seen > 15);
    let job = docs(&root().join("migrate/job.yaml"));
    assert_eq!(
        of_kind(&job, "Job")["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!(["migrate"])
    );
}

/// Every metric the alert rules (and their tests) and the Grafana dashboards name is one the
/// code exports: its name appears as a metric name in nakku-core or nakku-server
/// (histograms by their base name).
#[test]
fn the_alert_rules_and_dashboards_use_only_metrics_the_code_exports() {
    fn sources(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut code = String::new();
    for krate in ["nakku-core/src", "nakku-server/src"] {
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate), &mut code);
    }
    let names = metric_names::in_deploy(&[
        "prometheus/rules.yml",
        "prometheus/rules.test.yml",
        "grafana/dashboards/nakku-platform.json",
        "grafana/dashboards/nakku-business.json",
    ]);
    assert!(names.len() >= 25, "{names:?}");
    for name in &names {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            code.contains(&format!("\"{base}\"")),
            "the rules use {name}, which the code does not export"
        );
    }
}
