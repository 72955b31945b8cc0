//! `nakku chaos`: a plan's faults applied and healed under simulated load, then the promises.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_applies_each_fault_of_a_plan_under_load_and_checks_the_promises_after() {
    let dir = tempfile::tempdir().unwrap();
    let up = launch(
        dir.path(),
        &["up", "--stores", "1"],
        &[("NAKKU_RATE_LIMIT_AUTH_PER_MINUTE", "0")],
        "gateway",
    );
    // The whole deployment frozen for 3 s (a stalled machine), then running on.
    let pid = up.child.id();
    let marks = dir.path().join("marks");
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[[fault]]\nname = \"none (baseline)\"\n\n\
             [[fault]]\nname = \"the deployment frozen 3 s\"\n\
             break = \"kill -STOP {pid} && echo broke >> {m}\"\nhold = \"3s\"\n\
             heal = \"echo healed >> {m} && kill -CONT {pid}\"\n",
            m = marks.display()
        ),
    )
    .unwrap();
    let plan_arg = plan.to_str().unwrap();
    let dry = run(nakku(dir.path()).args(["chaos", "--plan", plan_arg, "--dry-run"]));
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("the deployment frozen 3 s: break"),
        "{}",
        stdout(&dry)
    );
    assert!(!marks.exists(), "a dry run applies nothing");

    let out = run(nakku(dir.path()).args([
        "chaos",
        "--plan",
        plan_arg,
        "--url",
        &up.gateway,
        "--orders",
        "4",
        "--settle",
        "60s",
        "--json",
    ]));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "broke\nhealed\n");
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for r in rows {
        assert_eq!(r["ok"], true, "{r:#}");
        assert!(r["placed"].as_u64().unwrap() >= 2, "most visits end in an order: {r:#}");
        assert_eq!(r["stuck"], 0, "{r:#}");
        assert_eq!(r["delivered"], r["confirmed"], "{r:#}");
        assert_eq!((r["simulate"].as_str(), r["verify"].as_str()), (Some("ok"), Some("ok")));
    }
    assert_eq!(rows[1]["fault"], "the deployment frozen 3 s");

    // A fault whose command fails is a failed row, and the drill exits 2 naming it.
    std::fs::write(
        &plan,
        "[[fault]]\nname = \"a break that cannot run\"\nbreak = \"exit 3\"\n",
    )
    .unwrap();
    let out = run(nakku(dir.path()).args([
        "chaos",
        "--plan",
        plan_arg,
        "--url",
        &up.gateway,
        "--orders",
        "2",
        "--settle",
        "60s",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("promises broken under: a break that cannot run"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("exited with exit status: 3"), "{}", stderr(&out));
    // A plan that cannot be read is refused before anything runs.
    std::fs::write(&plan, "[[fault]]\nname = \"x\"\nbrake = \"typo\"\n").unwrap();
    let bad = run(nakku(dir.path()).args(["chaos", "--plan", plan_arg]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unknown field `brake`"), "{}", stderr(&bad));
}
