//! Joins: equality keys extracted from ON and WHERE, residual predicates, outer joins, join
//! order and index use.

use crate::{catalog, explain, operators};
use riffle_sql::Plan;

fn join_lines(sql: &str) -> Vec<String> {
    explain(sql)
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("Join on ("))
        .map(String::from)
        .collect()
}

#[test]
fn an_on_equality_becomes_a_join_key() {
    let joins = join_lines("SELECT * FROM orders o JOIN customers c ON o.cid = c.id");
    assert_eq!(joins.len(), 1, "{joins:?}");
    assert!(!joins[0].contains("Join on ()"), "{joins:?}");
}

#[test]
fn a_where_equality_between_two_from_items_becomes_a_join_key() {
    let joins = join_lines("SELECT * FROM orders o, customers c WHERE o.cid = c.id AND o.amount > 5");
    assert_eq!(joins.len(), 1, "{joins:?}");
    assert!(!joins[0].contains("Join on ()"), "a cross join: {joins:?}");
    assert!(explain("SELECT * FROM orders o, customers c WHERE o.cid = c.id AND o.amount > 5").contains("Filter"));
}

#[test]
fn expressions_on_both_sides_can_be_keys() {
    let joins = join_lines("SELECT * FROM orders o JOIN customers c ON o.cid + 1 = c.id * 2");
    assert_eq!(joins.len(), 1);
    assert!(!joins[0].contains("Join on ()"), "{joins:?}");
}

#[test]
fn a_non_equality_condition_is_not_a_key() {
    let joins = join_lines("SELECT * FROM orders o JOIN customers c ON o.cid < c.id");
    assert_eq!(joins.len(), 1);
    assert!(joins[0].starts_with("Join on ()"), "{joins:?}");
}

#[test]
fn outer_joins_keep_their_kind() {
    assert!(operators("SELECT * FROM orders o LEFT JOIN customers c ON o.cid = c.id").contains(&"LeftJoin".to_string()));
    assert!(operators("SELECT * FROM orders o RIGHT JOIN customers c ON o.cid = c.id").contains(&"LeftJoin".to_string()));
    assert!(operators("SELECT * FROM orders o FULL JOIN customers c ON o.cid = c.id").contains(&"FullJoin".to_string()));
}

#[test]
fn an_outer_join_residual_stays_in_the_join() {
    let plan = explain("SELECT * FROM orders o LEFT JOIN customers c ON o.cid = c.id AND c.name <> 'x'");
    let join = plan.lines().find(|l| l.contains("LeftJoin")).unwrap();
    // The condition on c filters matches, not output rows: every order stays.
    assert!(
        join.contains("residual")
            || plan
                .lines()
                .skip_while(|l| !l.contains("LeftJoin"))
                .skip(1)
                .any(|l| l.contains("Filter")),
        "{plan}"
    );
}

#[test]
fn a_cross_join_has_no_keys() {
    let joins = join_lines("SELECT * FROM t CROSS JOIN u");
    assert_eq!(joins, ["Join on ()  -- arrange both inputs by key, join"]);
}

#[test]
fn a_chain_of_equalities_orders_joins_without_a_cross_product() {
    // t and customers share no predicate: written order would cross them first.
    let joins = join_lines("SELECT * FROM t, customers c, orders o WHERE t.a = o.cid AND o.cid = c.id");
    assert_eq!(joins.len(), 2, "{joins:?}");
    assert!(joins.iter().all(|j| !j.contains("Join on ()")), "{joins:?}");
}

#[test]
fn is_not_distinct_from_is_kept_as_a_residual_condition() {
    // Only `=` makes keys from user predicates (NULL-safe keys are made by decorrelation).
    let joins = join_lines("SELECT * FROM t JOIN u ON t.a IS NOT DISTINCT FROM u.a");
    assert_eq!(joins.len(), 1);
    assert!(joins[0].starts_with("Join on () residual (isnotdistinctfrom(#0, #3))"), "{joins:?}");
}

#[test]
fn explain_says_which_join_input_reads_an_index() {
    let Plan::Explain { lines } = catalog()
        .plan("EXPLAIN SELECT * FROM orders o JOIN customers c ON o.cid = c.id")
        .unwrap()
    else {
        panic!()
    };
    let text = lines.join("\n");
    assert!(text.contains("read from index customers_id"), "{text}");
}
