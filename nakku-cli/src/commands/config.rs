//! `nakku config ...`: the settings this binary reads, and what a deployment's are: every
//! key with its type, default and meaning, or every effective value with where it came
//! from. Secrets are never printed.

use std::collections::HashMap;
use std::path::Path;

use clap::Subcommand;
use nakku_core::config::{documented_keys, Settings};
use serde_json::json;

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every setting: variable, type and range, default, secret or not, meaning
    Keys {
        /// One JSON object per line instead of a table
        #[arg(long)]
        json: bool,
    },
    /// The effective settings (defaults < nakku.toml < NAKKU_* < flags) and where each
    /// came from; secrets shown as ***. Fails, naming the key, when a value is bad
    Show {
        /// One JSON object per line instead of a table
        #[arg(long)]
        json: bool,
        /// Only keys not at their default
        #[arg(long)]
        changed: bool,
    },
}

pub fn run(cmd: Command, config_file: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<()> {
    match cmd {
        Command::Keys { json } => {
            let keys = documented_keys();
            if json {
                for k in keys {
                    println!(
                        "{}",
                        json!({"key": k.key, "variable": k.variable, "type": k.type_name,
                               "default": k.default, "secret": k.secret, "meaning": k.meaning})
                    );
                }
                return Ok(());
            }
            let mut t = table(&["variable", "type", "default", "secret", "meaning"]);
            for k in keys {
                let secret = if k.secret { "yes" } else { "" };
                t.add_row(vec![k.variable, k.type_name, k.default, secret.to_owned(), k.meaning]);
            }
            println!("{t}");
            Ok(())
        }
        Command::Show { json, changed } => {
            let env: HashMap<String, String> = std::env::vars().collect();
            let (_, mut effective) = Settings::explain(config_file, &env)?;
            if let Some(dir) = data_dir {
                if let Some(e) = effective.iter_mut().find(|e| e.key == "data_dir") {
                    e.value = dir.display().to_string();
                    e.origin = "--data-dir".to_owned();
                }
            }
            if changed {
                effective.retain(|e| e.origin != "default");
            }
            if json {
                for e in effective {
                    println!(
                        "{}",
                        json!({"key": e.key, "variable": e.variable, "value": e.value, "origin": e.origin})
                    );
                }
                return Ok(());
            }
            let mut t = table(&["variable", "value", "from"]);
            for e in effective {
                t.add_row(vec![e.variable, e.value, e.origin]);
            }
            println!("{t}");
            Ok(())
        }
    }
}
