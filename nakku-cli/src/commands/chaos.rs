//! `nakku chaos`: fault drills against an operator's own deployment. A plan (TOML) names
//! each fault as a shell command that breaks something — `kubectl delete pod …`,
//! `systemctl kill -s KILL nakku-order`, a firewall rule — and optionally one that heals it.
//! For each fault in turn: `nakku simulate` places orders through the gateway, the fault is
//! applied after `--lead` and healed after its `hold`, the gateway is waited for until ready,
//! the orders settle, and `nakku verify` reads the promises from the databases themselves.
//! The report is one row per fault (placed, confirmed, delivered, cancelled, failed,
//! refused, stuck, undelivered, transport and 5xx errors, simulate's verdict, verify's);
//! exits 2 when any fault broke a promise. `scripts/faults.py` runs the same drill on one
//! machine in CI, with the faults built in.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nakku_core::config::Settings;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::simulate::parse_duration;

#[derive(Debug, Args)]
pub struct Opts {
    /// The drill: a TOML file of `[[fault]]` tables (name, break, hold, heal; see the README)
    #[arg(long, value_name = "FILE")]
    plan: PathBuf,
    /// The gateway (default: this machine's gateway port)
    #[arg(long)]
    url: Option<String>,
    /// Orders placed under each fault
    #[arg(long, default_value_t = 10)]
    orders: usize,
    /// Orders started per second under each fault
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Load before each fault is applied
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    lead: Duration,
    /// How long each fault's orders may take to settle after it is healed, and the gateway to be ready
    #[arg(long, value_parser = parse_duration, default_value = "90s")]
    settle: Duration,
    /// Only the faults whose names contain one of these (comma-separated)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print the plan as it will run, and apply nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the rows as JSON
    #[arg(long)]
    json: bool,
    /// The configuration file nakku was given, handed on to the simulate it runs.
    #[arg(skip)]
    pub config: Option<PathBuf>,
}

/// A drill plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    #[serde(rename = "fault")]
    faults: Vec<Fault>,
}

/// One fault: what breaks, for how long, what heals it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    name: String,
    /// A shell command (`sh -c`) that applies the fault; none for a baseline row.
    #[serde(rename = "break", default)]
    apply: Option<String>,
    /// How long the fault lasts before `heal` runs, e.g. "30s".
    #[serde(default = "no_time")]
    hold: String,
    /// A shell command that lifts the fault (none when the platform heals by itself: a
    /// Kubernetes Deployment starts a deleted pod again).
    #[serde(default)]
    heal: Option<String>,
}

fn no_time() -> String {
    "0s".to_owned()
}

/// What one fault did.
#[derive(Debug, Serialize)]
struct Row {
    fault: String,
    placed: u64,
    confirmed: u64,
    delivered: u64,
    cancelled: u64,
    failed: u64,
    refused: u64,
    stuck: u64,
    undelivered: u64,
    /// Requests answered 5xx or 429, or not at all, during the run.
    errors: u64,
    seconds: u64,
    /// `ok`, or why simulate's run failed (or the fault's commands did).
    simulate: String,
    /// `ok`, or the promises `nakku verify` found broken.
    verify: String,
    ok: bool,
}

/// Reads and checks a plan: every fault named, names unique, holds readable.
fn load(path: &std::path::Path) -> anyhow::Result<Vec<(Fault, Duration)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
    let plan: Plan = toml::from_str(&text).with_context(|| format!("the plan {}", path.display()))?;
    anyhow::ensure!(!plan.faults.is_empty(), "the plan {} has no [[fault]]", path.display());
    let mut out = Vec::new();
    for f in plan.faults {
        anyhow::ensure!(!f.name.trim().is_empty(), "a fault of the plan has no name");
        anyhow::ensure!(
            !out.iter().any(|(o, _): &(Fault, Duration)| o.name == f.name),
            "two faults are named {:?}",
            f.name
        );
        anyhow::ensure!(
            f.apply.is_some() || f.heal.is_none(),
            "fault {:?}: a heal without a break",
            f.name
        );
        let hold = parse_duration(&f.hold).map_err(|e| anyhow::anyhow!("fault {:?}: hold {e}", f.name))?;
        out.push((f, hold));
    }
    Ok(out)
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.orders >= 1 && o.orders <= 100_000,
        "--orders must be from 1 to 100000"
    );
    anyhow::ensure!(
        o.rate > 0.0 && o.rate <= 10_000.0,
        "--rate must be above 0 and at most 10000"
    );
    let faults: Vec<(Fault, Duration)> = load(&o.plan)?
        .into_iter()
        .filter(|(f, _)| o.only.is_empty() || o.only.iter().any(|s| f.name.to_lowercase().contains(&s.to_lowercase())))
        .collect();
    anyhow::ensure!(
        !faults.is_empty(),
        "no fault of the plan matches --only {}",
        o.only.join(",")
    );
    let base = super::gateway_url(settings, o.url.as_deref());
    if o.dry_run {
        for (f, hold) in &faults {
            println!(
                "{}: break {:?}, hold {}s, heal {:?}",
                f.name,
                f.apply.as_deref().unwrap_or("(nothing: a baseline)"),
                hold.as_secs(),
                f.heal.as_deref().unwrap_or("(the platform heals it)")
            );
        }
        return Ok(());
    }
    let http = nakku_core::tls::ExtraRoots::from_settings(settings)?
        .http()?
        .timeout(Duration::from_secs(5))
        .build()?;
    let exe = std::env::current_exe().context("finding the nakku binary to run simulate with")?;
    let mut rows = Vec::new();
    for (i, (fault, hold)) in faults.iter().enumerate() {
        eprintln!("fault: {}", fault.name);
        let row = drill(&o, &exe, &http, &base, settings, fault, *hold, 100 + i as u64).await?;
        eprintln!(
            "  -> simulate {}, verify {} ({} s)",
            row.simulate, row.verify, row.seconds
        );
        rows.push(row);
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut t = crate::output::table(&[
            "fault",
            "placed",
            "confirmed",
            "delivered",
            "cancelled",
            "failed",
            "refused",
            "stuck",
            "undelivered",
            "errors",
            "seconds",
            "simulate",
            "verify",
        ]);
        for r in &rows {
            t.add_row(vec![
                r.fault.clone(),
                r.placed.to_string(),
                r.confirmed.to_string(),
                r.delivered.to_string(),
                r.cancelled.to_string(),
                r.failed.to_string(),
                r.refused.to_string(),
                r.stuck.to_string(),
                r.undelivered.to_string(),
                r.errors.to_string(),
                r.seconds.to_string(),
                r.simulate.clone(),
                r.verify.clone(),
            ]);
        }
        println!("{t}");
    }
    let bad: Vec<&str> = rows.iter().filter(|r| !r.ok).map(|r| r.fault.as_str()).collect();
    anyhow::ensure!(bad.is_empty(), "promises broken under: {}", bad.join("; "));
    Ok(())
}

/// One fault under load, then the promises.
#[allow(clippy::too_many_arguments)]
async fn drill(
    o: &Opts,
    exe: &std::path::Path,
    http: &reqwest::Client,
    base: &str,
    settings: &Settings,
    fault: &Fault,
    hold: Duration,
    seed: u64,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let mut sim = tokio::process::Command::new(exe);
    if let Some(config) = &o.config {
        sim.arg("--config").arg(config);
    }
    let sim = sim
        .arg("--data-dir")
        .arg(&settings.data_dir)
        .args(["simulate", "--url", base, "--orders", &o.orders.to_string()])
        .args([
            "--rate",
            &o.rate.to_string(),
            "--concurrency",
            "3",
            "--seed",
            &seed.to_string(),
        ])
        .args(["--settle", &format!("{}s", o.settle.as_secs()), "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting nakku simulate")?;
    let mut trouble = Vec::new();
    tokio::time::sleep(o.lead).await;
    if let Some(cmd) = &fault.apply {
        if let Err(e) = shell(cmd).await {
            trouble.push(format!("break: {e}"));
        }
        tokio::time::sleep(hold).await;
        if let Some(cmd) = &fault.heal {
            if let Err(e) = shell(cmd).await {
                trouble.push(format!("heal: {e}"));
            }
        }
        if let Err(why) = super::simulate::until_ready(http, base, o.settle, |_| {}).await {
            trouble.push(format!(
                "the gateway was not ready within {}s of the heal ({why})",
                o.settle.as_secs()
            ));
        }
    }
    let out = sim.wait_with_output().await.context("waiting for nakku simulate")?;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        trouble.push(
            err.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("simulate failed")
                .trim_start_matches("error: ")
                .to_owned(),
        );
    }
    let verdict = super::verify::check_until_ok(settings, Duration::from_secs(60)).await;
    let n = |k: &str| report["outcomes"][k].as_u64().unwrap_or(0);
    let errors = report["errors"]
        .as_object()
        .map_or(0, |e| e.values().filter_map(Value::as_u64).sum());
    let verify_ok = verdict.as_ref().is_ok_and(|r| r.ok);
    Ok(Row {
        fault: fault.name.clone(),
        placed: n("placed"),
        confirmed: n("confirmed"),
        delivered: n("delivered"),
        cancelled: n("cancelled"),
        failed: n("compensated"),
        refused: n("refused"),
        stuck: n("stuck"),
        undelivered: n("undelivered"),
        errors,
        seconds: started.elapsed().as_secs(),
        ok: trouble.is_empty() && verify_ok,
        simulate: if trouble.is_empty() {
            "ok".to_owned()
        } else {
            trouble.join("; ")
        },
        verify: match verdict {
            Ok(r) if r.ok => "ok".to_owned(),
            Ok(r) => r
                .findings
                .iter()
                .filter(|f| !f.ok)
                .map(|f| format!("{}: {}", f.promise, f.detail))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!("could not read the databases: {e:#}"),
        },
    })
}

/// Runs `cmd` with `sh -c`; an error names its exit status and the end of its output.
async fn shell(cmd: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {cmd:?}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    anyhow::bail!(
        "{cmd:?} exited with {}{}",
        out.status,
        if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> anyhow::Result<Vec<(Fault, Duration)>> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("plan.toml");
        std::fs::write(&p, text)?;
        load(&p)
    }

    #[test]
    fn a_plan_names_each_fault_once_and_says_how_long_it_holds() {
        let ok = plan(
            "[[fault]]\nname = \"baseline\"\n\n[[fault]]\nname = \"order killed\"\nbreak = \"kill -9 1234\"\nhold = \"5s\"\nheal = \"true\"\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].1, Duration::from_secs(5));
        assert_eq!(ok[0].0.apply, None);
        for (text, says) in [
            ("", "missing field `fault`"),
            ("fault = []", "has no [[fault]]"),
            ("[[fault]]\nname = \"\"", "has no name"),
            (
                "[[fault]]\nname = \"a\"\n[[fault]]\nname = \"a\"",
                "two faults are named \"a\"",
            ),
            ("[[fault]]\nname = \"a\"\nbreak = \"x\"\nhold = \"soon\"", "hold"),
            ("[[fault]]\nname = \"a\"\nheal = \"x\"", "a heal without a break"),
            ("[[fault]]\nname = \"a\"\nbrake = \"x\"", "unknown field `brake`"),
        ] {
            let e = format!("{:#}", plan(text).unwrap_err());
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
