//! The saga's next-step decision and its rules, given / when / then, without a database.

use super::*;

/// An order as the saga finds it: `status`, saga `state`, paid by `kind`.
pub(in crate::order) fn given(status: &str, state: &str, kind: &str) -> OrderRow {
    OrderRow {
        id: "0190d5e0-0000-7000-8000-000000000001".into(),
        user_id: "u".into(),
        store: "BLR-1".into(),
        status: status.into(),
        payment_kind: kind.into(),
        payment_method_id: None,
        total_paise: 12_000,
        saga_state: state.into(),
        cancel_requested: false,
        failure_reason: None,
        attempts: 0,
        step_started_at: 0,
        adjust_pending: false,
        cash_due_pending: false,
    }
}

#[test]
fn a_running_order_moves_forward_one_step_per_status() {
    for (status, kind, then) in [
        ("pending", "upi", Some(Step::Reserve)),
        ("pending", "cod", Some(Step::Reserve)),
        ("stock_reserved", "upi", Some(Step::Charge)),
        ("stock_reserved", "card", Some(Step::Charge)),
        ("stock_reserved", "cod", Some(Step::ConfirmCod)),
        ("paid", "upi", Some(Step::Confirm)),
        // Confirmed and later: the saga's part is over until something is asked of it.
        ("confirmed", "upi", None),
        ("packed", "upi", None),
        ("out_for_delivery", "cod", None),
        ("delivered", "upi", None),
        ("failed", "upi", None),
        ("cancelled", "upi", None),
    ] {
        assert_eq!(
            next_step(&given(status, "running", kind)),
            then,
            "{status} paid by {kind}"
        );
    }
}

#[test]
fn a_settled_saga_does_nothing_whatever_the_row_says() {
    for status in ["pending", "stock_reserved", "paid", "confirmed", "failed"] {
        let mut o = given(status, "done", "upi");
        o.cancel_requested = true;
        o.adjust_pending = true;
        o.cash_due_pending = true;
        assert_eq!(next_step(&o), None, "{status}");
    }
}

#[test]
fn compensation_comes_before_everything_else() {
    for status in ["pending", "stock_reserved", "paid", "confirmed", "failed", "cancelled"] {
        let mut o = given(status, "compensating", "upi");
        assert_eq!(next_step(&o), Some(Step::Compensate), "{status}");
        o.cancel_requested = true;
        o.adjust_pending = true;
        o.cash_due_pending = true;
        assert_eq!(next_step(&o), Some(Step::Compensate), "{status}, every flag raised");
    }
}

#[test]
fn a_cancellation_wins_over_picking_changes_and_cash_due() {
    for status in ["pending", "stock_reserved", "paid", "confirmed", "packed"] {
        let mut o = given(status, "running", "cod");
        o.cancel_requested = true;
        o.adjust_pending = true;
        o.cash_due_pending = true;
        assert_eq!(next_step(&o), Some(Step::Cancel), "{status}");
    }
}

#[test]
fn picking_changes_are_applied_before_the_cash_due_is_recorded() {
    let mut o = given("confirmed", "running", "cod");
    o.adjust_pending = true;
    o.cash_due_pending = true;
    assert_eq!(next_step(&o), Some(Step::Adjust));
    // Once applied, the cash due comes next, then nothing.
    o.adjust_pending = false;
    assert_eq!(next_step(&o), Some(Step::RecordCashDue));
    o.cash_due_pending = false;
    assert_eq!(next_step(&o), None);
}

#[test]
fn picking_changes_of_a_packed_order_are_applied() {
    let mut o = given("packed", "running", "upi");
    o.adjust_pending = true;
    assert_eq!(next_step(&o), Some(Step::Adjust));
}

#[test]
fn every_step_has_its_own_name_for_logs_and_metrics() {
    let steps = Step::ALL;
    let mut names: Vec<&str> = steps.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), steps.len(), "{names:?}");
}
