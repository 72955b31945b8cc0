//! `nakku api`: the public API's OpenAPI document and GraphQL schema, and what a change to
//! the document breaks.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the OpenAPI 3.1 document of the public API (as docs/openapi.json and the
    /// gateway's /api/v1/openapi.json)
    Spec,
    /// Print the GraphQL schema of `POST /api/graphql` in SDL (as docs/graphql/schema.graphql)
    Sdl,
    /// Compare two OpenAPI documents, or two GraphQL schemas (`.graphql` files): what NEW
    /// (default: this binary's) breaks for a client written against OLD — an operation,
    /// answer, type or field removed, a type changed, an enum value removed, a parameter,
    /// argument or field newly required, a limit narrowed. Exits 2 when something breaks;
    /// additions are fine
    Diff {
        /// What clients were written against (e.g. docs/contract/v1.openapi.json or
        /// docs/contract/v1.schema.graphql, or a deployed gateway's document saved to a file)
        old: PathBuf,
        /// The newer document or schema (default: the one this binary serves)
        new: Option<PathBuf>,
    },
}

fn read(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
    anyhow::ensure!(
        doc.get("openapi").is_some() && doc.get("paths").is_some_and(serde_json::Value::is_object),
        "{} is not an OpenAPI document (no `openapi` and `paths`)",
        path.display()
    );
    Ok(doc)
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Spec => {
            print!("{}", nakku_server::contract::document_text());
            Ok(())
        }
        Command::Sdl => {
            print!("{}", nakku_server::graphql::sdl());
            Ok(())
        }
        Command::Diff { old, new } if old.extension().is_some_and(|e| e == "graphql") => {
            let text = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
            };
            let old_sdl = text(&old)?;
            let new_sdl = match &new {
                Some(p) => text(p)?,
                None => nakku_server::graphql::sdl(),
            };
            let broken = nakku_server::contract::graphql::breaking_changes(&old_sdl, &new_sdl);
            report(&old, new.as_ref(), "schema", &broken)
        }
        Command::Diff { old, new } => {
            let old_doc = read(&old)?;
            let new_doc = match &new {
                Some(p) => read(p)?,
                None => nakku_server::openapi::document_json().clone(),
            };
            let broken = nakku_server::contract::breaking_changes(&old_doc, &new_doc);
            report(&old, new.as_ref(), "document", &broken)
        }
    }
}

/// Prints what `new` (this binary's `what` when none) breaks of `old`; an error when anything.
fn report(old: &std::path::Path, new: Option<&PathBuf>, what: &str, broken: &[String]) -> anyhow::Result<()> {
    let against = new.map_or(format!("this binary's {what}"), |p| p.display().to_string());
    if broken.is_empty() {
        println!("{against} keeps every promise of {}", old.display());
        return Ok(());
    }
    for b in broken {
        println!("{b}");
    }
    anyhow::bail!("{against} breaks {} promise(s) of {}", broken.len(), old.display())
}
