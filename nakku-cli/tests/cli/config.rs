//! The settings: the README, the example file and `nakku config` agree with the declaration.

use super::*;

#[test]
fn the_readme_documents_every_configuration_key_and_command() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let services: Vec<&str> = nakku_core::service::Service::ALL.iter().map(|s| s.name()).collect();
    for k in nakku_core::config::documented_keys() {
        let per_service = services
            .iter()
            .find_map(|s| k.key.strip_prefix(&format!("{s}_")))
            .filter(|rest| ["port", "database_url", "url"].contains(rest));
        let var = match per_service {
            Some(rest) => format!("NAKKU_<SVC>_{}", rest.to_uppercase()),
            None => format!("NAKKU_{}", k.key.to_uppercase()),
        };
        assert!(readme.contains(&var), "README does not document {var}");
    }
    let help = stdout(&run(Command::new(NAKKU).arg("--help")));
    for line in help.lines().skip_while(|l| !l.starts_with("Commands:")).skip(1) {
        let Some(cmd) = line.split_whitespace().next() else {
            break;
        };
        if cmd == "help" {
            continue;
        }
        assert!(
            readme.contains(&format!("nakku {cmd}")),
            "README does not document `nakku {cmd}`"
        );
    }
}

/// `nakku config keys` lists every declared key; `nakku config show` gives each effective
/// value with its source, hides secrets, and refuses a bad value naming the key.
#[test]
fn config_lists_the_keys_and_shows_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).args(["config", "keys", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(keys.len(), nakku_core::config::documented_keys().len());
    let bcrypt = keys.iter().find(|k| k["key"] == "bcrypt_cost").unwrap();
    assert_eq!(bcrypt["type"], "integer 4..=31");
    assert_eq!(bcrypt["default"], "12");
    let jwt = keys.iter().find(|k| k["key"] == "jwt_secret").unwrap();
    assert_eq!(jwt["secret"], true);

    std::fs::write(dir.path().join("nakku.toml"), "slot_minutes = 30\n").unwrap();
    let o = run(nakku(dir.path())
        .args(["config", "show", "--json", "--changed"])
        .env("NAKKU_JWT_SECRET", "0123456789abcdef0123456789abcdef-hidden"));
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |key: &str| {
        shown
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {shown:?}"))
    };
    assert_eq!(of("slot_minutes")["value"], "30");
    assert!(of("slot_minutes")["origin"].as_str().unwrap().ends_with("nakku.toml"));
    assert_eq!(of("jwt_secret")["value"], "***");
    assert_eq!(of("jwt_secret")["origin"], "environment");
    assert_eq!(of("bcrypt_cost")["value"], "4");
    assert_eq!(of("data_dir")["origin"], "--data-dir");
    assert!(shown.iter().all(|e| e["origin"] != "default"), "{shown:?}");
    assert!(!stdout(&o).contains("hidden"), "{}", stdout(&o));

    let o = run(nakku(dir.path())
        .args(["config", "show"])
        .env("NAKKU_SLOT_MINUTES", "5"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("NAKKU_SLOT_MINUTES") && stderr(&o).contains("15 to 240"),
        "{}",
        stderr(&o)
    );
}

/// The README's configuration table and `nakku.example.toml` give every number's default
/// as declared: a changed default cannot leave the documentation behind.
#[test]
fn the_readme_and_the_example_show_the_declared_numeric_defaults() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("nakku.example.toml")).unwrap();
    let mut checked = 0;
    for s in nakku_core::config::SETTINGS {
        if !matches!(
            s.kind,
            nakku_core::config::Kind::Whole { .. } | nakku_core::config::Kind::Decimal { .. }
        ) {
            continue;
        }
        let default = s.default_value();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", s.variable())))
            .unwrap_or_else(|| panic!("README has no row for {}", s.variable()));
        let cell = row.split('|').nth(2).unwrap_or_default();
        assert!(
            cell.contains(&format!("`{default}`")),
            "README gives {} the default {cell:?}, the code {default}",
            s.variable()
        );
        let line = example
            .lines()
            .map(|l| l.trim_start_matches('#').trim())
            .find(|l| l.starts_with(&format!("{} = ", s.key)))
            .unwrap_or_else(|| panic!("nakku.example.toml has no {}", s.key));
        let value = line[s.key.len() + 3..].split_whitespace().next().unwrap_or_default();
        assert_eq!(
            value.parse::<f64>().ok(),
            default.parse::<f64>().ok(),
            "nakku.example.toml gives {} = {value}, the code {default}",
            s.key
        );
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

/// `nakku.example.toml` shows every setting (a per-service one through the user service's
/// and the gateway's; a secret may be shown as its `<key>_file`), and nothing Nakku does not
/// read: the file cannot drift from `documented_keys`, the one declaration of the settings.
#[test]
fn the_example_file_shows_every_configuration_key_and_no_other() {
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../nakku.example.toml")).unwrap();
    let shown: Vec<String> = example
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            let (key, _) = l.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                .then(|| key.to_owned())
        })
        .collect();
    let keys: Vec<String> = nakku_core::config::documented_keys()
        .into_iter()
        .map(|k| k.key)
        .collect();
    let services: Vec<&str> = nakku_core::service::Service::ALL.iter().map(|s| s.name()).collect();
    // `<svc>_port`, `<svc>_url`, `<svc>_database_url`: one service's line stands for all.
    let family = |key: &str| {
        services
            .iter()
            .find_map(|s| key.strip_prefix(s)?.strip_prefix('_'))
            .filter(|rest| ["port", "url", "database_url"].contains(rest))
            .map(str::to_owned)
    };
    for key in &keys {
        if let Some(rest) = family(key) {
            assert!(
                shown.iter().any(|k| family(k).as_deref() == Some(rest.as_str())),
                "nakku.example.toml shows no <service>_{rest}"
            );
            continue;
        }
        assert!(
            shown.contains(key) || shown.contains(&format!("{key}_file")),
            "nakku.example.toml does not show {key}"
        );
    }
    for key in &shown {
        let base = key.strip_suffix("_file").unwrap_or(key);
        assert!(
            keys.contains(key) || keys.contains(&base.to_owned()),
            "nakku.example.toml shows {key}, which Nakku does not read"
        );
    }
}

/// `nakku api spec` prints the document the gateway serves; `nakku api diff` passes a
/// document that only adds to the frozen v1 and exits 2 naming what a change breaks.
#[test]
fn api_diff_names_what_a_change_breaks_for_older_clients() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).args(["api", "spec"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(doc["paths"]["/api/v1/orders"]["post"].is_object());
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/contract/v1.openapi.json");
    let o = run(nakku(dir.path()).arg("api").arg("diff").arg(&v1));
    assert!(o.status.success(), "the code keeps v1: {}{}", stdout(&o), stderr(&o));

    // A release that drops an operation.
    let mut newer = doc.clone();
    newer["paths"]["/api/v1/orders/{id}"]
        .as_object_mut()
        .unwrap()
        .remove("get");
    let broken_path = dir.path().join("newer.json");
    std::fs::write(&broken_path, serde_json::to_string(&newer).unwrap()).unwrap();
    let o = run(nakku(dir.path()).arg("api").arg("diff").arg(&v1).arg(&broken_path));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("GET /api/v1/orders/{}: operation removed"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("breaks 1 promise"), "{}", stderr(&o));

    // Not a document: a clear error, not a pass.
    std::fs::write(dir.path().join("junk.json"), "{\"hello\": 1}").unwrap();
    let o = run(nakku(dir.path()).args(["api", "diff", "junk.json"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not an OpenAPI document"), "{}", stderr(&o));

    // The GraphQL schema: the code keeps its frozen contract; a field dropped is named.
    let sdl_v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/contract/v1.schema.graphql");
    let o = run(nakku(dir.path()).arg("api").arg("diff").arg(&sdl_v1));
    assert!(
        o.status.success(),
        "the code keeps the schema: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(nakku(dir.path()).args(["api", "sdl"]));
    let sdl = stdout(&o);
    // Order's total (the line before its refunds).
    let order_total = "\ttotalPaise: Int!\n\trefundedPaise: Int!\n";
    assert!(sdl.contains(order_total), "{sdl}");
    let newer = dir.path().join("newer.graphql");
    std::fs::write(&newer, sdl.replacen(order_total, "\trefundedPaise: Int!\n", 1)).unwrap();
    let o = run(nakku(dir.path()).arg("api").arg("diff").arg(&sdl_v1).arg(&newer));
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("Order.totalPaise: field removed"), "{}", stdout(&o));
}
