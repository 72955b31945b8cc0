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
    /// Compare two OpenAPI documents: what NEW (default: this binary's document) breaks for
    /// a client written against OLD — an operation, answer or field removed, a type changed,
    /// an enum value removed, a parameter or field newly required, a limit narrowed. Exits 2
    /// when something breaks; additions are fine
    Diff {
        /// The document clients were written against (e.g. docs/contract/v1.openapi.json,
        /// or a deployed gateway's /api/v1/openapi.json saved to a file)
        old: PathBuf,
        /// The newer document (default: the one this binary serves)
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
        Command::Diff { old, new } => {
            let old_doc = read(&old)?;
            let new_doc = match &new {
                Some(p) => read(p)?,
                None => nakku_server::openapi::document_json().clone(),
            };
            let broken = nakku_server::contract::breaking_changes(&old_doc, &new_doc);
            let against = new
                .as_ref()
                .map_or("this binary's document".to_owned(), |p| p.display().to_string());
            if broken.is_empty() {
                println!("{against} keeps every promise of {}", old.display());
                return Ok(());
            }
            for b in &broken {
                println!("{b}");
            }
            anyhow::bail!("{against} breaks {} promise(s) of {}", broken.len(), old.display())
        }
    }
}
