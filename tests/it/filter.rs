//! The SQL92 filter as a black box: the fixture expressions (tree and printed SQL, or the
//! error), a truth table of the evaluator against the semantics table of
//! `apogee::filter` (every row checked against RocketMQ's own evaluator), and a
//! print → parse round trip over random trees.

use apogee::filter::{
    CompareOp, Expr, FilterError, Literal, Outcome, SqlFilter, TextOp, MAX_DEPTH, MAX_LEN,
};
use proptest::prelude::*;
use std::fmt::Write;

/// The expressions of `tests/filter_fixtures/<name>`, escapes read.
fn fixtures(name: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/filter_fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.replace("\\n", "\n")
                .replace("\\r", "\r")
                .replace("\\t", "\t")
                .replace("\\f", "\x0C")
        })
        .collect()
}

/// The tree as an S-expression: `(and (> a 5) (in b 'x'))`.
fn tree(e: &Expr) -> String {
    let not = |negated: bool| if negated { "not-" } else { "" };
    match e {
        Expr::Literal(lit) => lit.to_string(),
        Expr::Property(name) => name.clone(),
        Expr::Negate(x) => format!("(neg {})", tree(x)),
        Expr::Not(x) => format!("(not {})", tree(x)),
        Expr::And(xs) | Expr::Or(xs) => {
            let op = if matches!(e, Expr::And(_)) {
                "and"
            } else {
                "or"
            };
            let items: Vec<String> = xs.iter().map(tree).collect();
            format!("({op} {})", items.join(" "))
        }
        Expr::Compare(l, op, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
        Expr::IsNull { operand, negated } => {
            format!("(is-{}null {})", not(*negated), tree(operand))
        }
        Expr::Between {
            operand,
            low,
            high,
            negated,
        } => format!(
            "({}between {} {} {})",
            not(*negated),
            tree(operand),
            tree(low),
            tree(high)
        ),
        Expr::In {
            property,
            values,
            negated,
        } => {
            let mut out = format!("({}in {property}", not(*negated));
            for v in values {
                write!(out, " {}", Literal::String(v.clone())).unwrap();
            }
            out + ")"
        }
        Expr::TextMatch {
            operand,
            op,
            pattern,
            negated,
        } => format!(
            "({}{} {} {})",
            not(*negated),
            op.keyword().to_lowercase(),
            tree(operand),
            Literal::String(pattern.clone())
        ),
    }
}

#[test]
fn good_fixtures_parse_print_and_reparse() {
    let inputs = fixtures("good.txt");
    let mut report = String::new();
    for input in &inputs {
        let filter = SqlFilter::compile(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let printed = filter.to_string();
        let again = SqlFilter::compile(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
        assert_eq!(
            again.expr(),
            filter.expr(),
            "{input:?} printed as {printed:?}"
        );
        writeln!(
            report,
            "{input:?}\n  sql:  {printed}\n  tree: {}",
            tree(filter.expr())
        )
        .unwrap();
    }
    assert!(inputs.len() >= 60, "only {} good fixtures", inputs.len());
    insta::assert_snapshot!("good", report);
}

#[test]
fn bad_fixtures_are_refused_with_a_span() {
    let mut inputs = fixtures("bad.txt");
    let generated = [
        "a = 1 OR ".repeat(MAX_LEN / 9) + "a = 1",
        "(".repeat(MAX_DEPTH + 1) + "a" + &")".repeat(MAX_DEPTH + 1),
        "NOT ".repeat(MAX_DEPTH) + "a",
        "a".to_owned() + &" = a".repeat(MAX_DEPTH),
    ];
    inputs.extend(generated.iter().cloned());
    let mut report = String::new();
    for input in &inputs {
        let Err(error) = SqlFilter::compile(input) else {
            panic!("{input:?} compiled");
        };
        let shown = if input.len() > 80 {
            format!("<{} bytes: {:?}…>", input.len(), &input[..24])
        } else {
            format!("{input:?}")
        };
        writeln!(report, "{shown}\n  {error}").unwrap();
    }
    assert!(inputs.len() >= 50, "only {} bad fixtures", inputs.len());
    insta::assert_snapshot!("bad", report);
}

#[test]
fn limits_are_exact() {
    let longest = format!("a = '{}'", "x".repeat(MAX_LEN - 6));
    assert!(SqlFilter::compile(&longest).is_ok());
    assert_eq!(
        SqlFilter::compile(&(longest + " ")).unwrap_err(),
        FilterError::TooLong {
            len: MAX_LEN + 1,
            max: MAX_LEN
        }
    );
    let deepest = "(".repeat(MAX_DEPTH) + "a" + &")".repeat(MAX_DEPTH);
    assert!(SqlFilter::compile(&deepest).is_ok());
    // NOT … NOT a is a tree MAX_DEPTH deep.
    assert!(SqlFilter::compile(&("NOT ".repeat(MAX_DEPTH - 1) + "a")).is_ok());
    // A long flat OR is one node, however many terms.
    let flat = vec!["a = 1"; 500].join(" OR ");
    assert!(SqlFilter::compile(&flat).is_ok());
}

/// The deepest expressions the limits allow compile, evaluate and print on a stack much
/// smaller than a broker thread's 2 MiB (a debug build needs about 500 KiB).
#[test]
fn deepest_expressions_fit_a_small_stack() {
    let d = MAX_DEPTH;
    let deepest = [
        "(".repeat(d) + "a" + &")".repeat(d) + " IS NULL",
        "(NOT ".repeat(d / 2) + "a" + &")".repeat(d / 2),
        "(-".repeat(d - 2) + "a" + &")".repeat(d - 2) + " > 1",
        "NOT ".repeat(d - 1) + "a",
        "(a = ".repeat(d - 1) + "a" + &")".repeat(d - 1),
    ];
    let run = move || {
        for sql in &deepest {
            let filter = SqlFilter::compile(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_ne!(filter.outcome(&[("a", "1")][..]), Thrown, "{sql}");
            assert_eq!(
                SqlFilter::compile(&filter.to_string()).unwrap().expr(),
                filter.expr()
            );
        }
    };
    let thread = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(run);
    thread.unwrap().join().unwrap();
}

use Outcome::{False, Thrown, True, Unknown};

/// (selector, properties, outcome): the semantics table of `apogee::filter`, row by row.
/// Every row gives the same answer from RocketMQ 5.x's `SelectorParser` and evaluator.
type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Outcome,
);

const TRUTH: &[Row] = &[
    // A property as a condition: unknown if missing, else FALSE (never a Boolean).
    ("a", &[], Unknown),
    ("a", &[("a", "true")], False),
    ("NOT a", &[], Unknown),
    ("NOT a", &[("a", "true")], True),
    ("TRUE", &[], True),
    ("FALSE", &[], False),
    ("NULL", &[], Unknown),
    // AND / OR: three-valued, left to right, stopping at the deciding operand.
    ("a = 1 AND b = 1", &[("a", "1")], Unknown),
    ("a = 1 AND b = 1", &[("a", "2")], False),
    ("b = 1 AND a = 1", &[("a", "2")], False),
    ("a = 1 OR b = 1", &[("a", "1")], True),
    ("a = 1 OR b = 1", &[("a", "2")], Unknown),
    ("b = 1 OR a = 1", &[("a", "1")], True),
    ("a = 1 OR b = 'x'", &[("a", "abc"), ("b", "x")], Thrown),
    ("b = 'x' OR a = 1", &[("a", "abc"), ("b", "x")], True),
    ("b = 'y' AND a = 1", &[("a", "abc"), ("b", "x")], False),
    ("NOT (a = 1)", &[("a", "abc")], Thrown),
    ("NOT (a = 1)", &[], Unknown),
    // Ordering: null is unknown; a string is read as the constant's type.
    ("a > 5", &[], Unknown),
    ("a > 5", &[("a", "7")], True),
    ("a > 5", &[("a", "5")], False),
    ("a >= 5", &[("a", "+5")], True),
    ("a < 5", &[("a", "-05")], True),
    ("a <= 5", &[("a", "6")], False),
    ("a > 5", &[("a", "5.5")], Thrown),
    ("a > 5", &[("a", " 7")], Thrown),
    ("a > 5", &[("a", "abc")], Thrown),
    ("a > 5.0", &[("a", "5.5")], True),
    ("a > 5.0", &[("a", " 7 ")], True),
    ("a > 1.5", &[("a", "0x1p1")], True),
    ("a > 1.5", &[("a", "2f")], True),
    ("a > 1.5", &[("a", "NaN")], True),
    ("a < 1.5", &[("a", "-Infinity")], True),
    ("a > 1.5", &[("a", "inf")], Thrown),
    ("a > 2147483647", &[("a", "3000000000")], Thrown),
    ("a > 2147483648", &[("a", "3000000000")], True),
    ("a = -2147483648", &[("a", "3000000000")], False),
    ("a = -2147483647", &[("a", "3000000000")], Thrown),
    ("5 > a", &[("a", "3")], True),
    // Two strings order as doubles, not as text.
    ("a > b", &[("a", "10"), ("b", "9")], True),
    ("a > b", &[("a", "10"), ("b", "x")], Thrown),
    ("a > b", &[("a", "10")], Unknown),
    // A null left side leaves the right side unevaluated.
    ("a > -(b > c)", &[("b", "x"), ("c", "y")], Unknown),
    (
        "a > -(b > c)",
        &[("a", "1"), ("b", "x"), ("c", "y")],
        Thrown,
    ),
    // Equality.
    ("a = 5", &[("a", "5")], True),
    ("a = 5", &[("a", "05")], True),
    ("a = 5", &[("a", "5.0")], Thrown),
    ("a = 5.0", &[("a", "5")], True),
    ("a = 5", &[], Unknown),
    ("5 = a", &[], False),
    ("a = b", &[], True),
    ("a = b", &[("a", "1"), ("b", "1.0")], False),
    ("a = 'x'", &[("a", "x")], True),
    ("a = 'x'", &[("a", "X")], False),
    ("a <> 'x'", &[], Unknown),
    ("'x' <> a", &[], True),
    ("a <> 'x'", &[("a", "y")], True),
    ("a = TRUE", &[("a", "TRUE")], True),
    ("a = TRUE", &[("a", "yes")], False),
    ("a = FALSE", &[("a", "yes")], True),
    ("TRUE = a", &[("a", "true")], Thrown),
    ("TRUE = a", &[], False),
    ("1 = TRUE", &[], False),
    ("a = -NULL", &[], True),
    ("NOT a = 1", &[("a", "x")], False),
    ("NOT a = 1", &[], Unknown),
    // IS [NOT] NULL never answers unknown.
    ("a IS NULL", &[], True),
    ("a IS NULL", &[("a", "")], False),
    ("a IS NOT NULL", &[], False),
    ("a IS NOT NULL", &[("a", "")], True),
    // BETWEEN is >= AND <=; NOT BETWEEN is < OR >.
    ("a BETWEEN 3 AND 5", &[("a", "4")], True),
    ("a BETWEEN 3 AND 5", &[("a", "6")], False),
    ("a BETWEEN 3 AND 5", &[], Unknown),
    ("a BETWEEN 3 AND 5", &[("a", "4.5")], Thrown),
    ("a BETWEEN 3.0 AND 5", &[("a", "4.5")], Thrown),
    ("a BETWEEN 3.0 AND 5.0", &[("a", "4.5")], True),
    ("a NOT BETWEEN 3 AND 5", &[("a", "6")], True),
    ("a NOT BETWEEN 3 AND 5", &[("a", "4")], False),
    ("a NOT BETWEEN 3 AND 5", &[], Unknown),
    ("a BETWEEN 10 AND b", &[("a", "5"), ("b", "zzz")], False),
    ("a BETWEEN 1 AND b", &[("a", "5"), ("b", "zzz")], Thrown),
    // IN: exact strings; unknown when missing, negated or not.
    ("a IN ('x', 'y')", &[("a", "y")], True),
    ("a IN ('x', 'y')", &[("a", "z")], False),
    ("a IN ('x', 'y')", &[], Unknown),
    ("a NOT IN ('x')", &[("a", "z")], True),
    ("a NOT IN ('x')", &[("a", "x")], False),
    ("a NOT IN ('x')", &[], Unknown),
    // Text tests: FALSE for null, non-strings and empty patterns, negated or not.
    ("a CONTAINS 'b'", &[("a", "abc")], True),
    ("a CONTAINS 'b'", &[("a", "xyz")], False),
    ("a CONTAINS 'b'", &[], False),
    ("a NOT CONTAINS 'b'", &[("a", "xyz")], True),
    ("a NOT CONTAINS 'b'", &[("a", "abc")], False),
    ("a NOT CONTAINS 'b'", &[], False),
    ("NOT (a CONTAINS 'b')", &[], True),
    ("a STARTSWITH 'ab'", &[("a", "abc")], True),
    ("a NOT STARTSWITH 'ab'", &[("a", "abc")], False),
    ("a ENDSWITH 'bc'", &[("a", "abc")], True),
    ("a NOT ENDSWITH 'bc'", &[("a", "xyz")], True),
    ("a CONTAINS ''", &[("a", "abc")], False),
    ("a NOT CONTAINS ''", &[("a", "abc")], False),
    ("5 CONTAINS '5'", &[], False),
    // Unary minus: numbers only; a property's string becomes null.
    ("a = -5", &[("a", "-5")], True),
    ("-a = 5", &[("a", "-5")], Unknown),
];

#[test]
fn evaluator_follows_the_semantics_table() {
    let mut wrong = Vec::new();
    for (sql, props, expected) in TRUTH {
        let filter = SqlFilter::compile(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let outcome = filter.outcome(*props);
        assert_eq!(filter.evaluate(*props), outcome == True, "{sql}");
        if outcome != *expected {
            wrong.push(format!(
                "{sql} with {props:?}: {outcome:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const KEYWORDS: [&str; 12] = [
    "NOT",
    "AND",
    "OR",
    "BETWEEN",
    "IN",
    "IS",
    "TRUE",
    "FALSE",
    "NULL",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
];

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_$][a-zA-Z0-9_$]{0,5}".prop_filter("a keyword", |s| {
        !KEYWORDS.contains(&s.to_ascii_uppercase().as_str())
    })
}

fn text() -> impl Strategy<Value = String> {
    "(?s).{0,5}"
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        (0..=i64::MAX).prop_map(Literal::Integer),
        any::<f64>()
            .prop_map(f64::abs)
            .prop_filter("finite, not zero", |x| x.is_finite() && *x > 0.0)
            .prop_map(Literal::Float),
        text().prop_map(Literal::String),
    ]
}

/// Makes `e` acceptable where RocketMQ wants a condition.
fn condition(e: Expr) -> Expr {
    match e {
        Expr::Literal(Literal::Integer(_) | Literal::Float(_) | Literal::String(_))
        | Expr::Negate(_) => Expr::IsNull {
            operand: Box::new(e),
            negated: false,
        },
        e => e,
    }
}

/// Makes `e` acceptable as an operand of `<`, `>` or BETWEEN.
fn comparable(e: Expr) -> Expr {
    match e {
        Expr::Literal(Literal::Integer(_) | Literal::Float(_))
        | Expr::Property(_)
        | Expr::Negate(_) => e,
        e => Expr::Negate(Box::new(e)),
    }
}

/// Whether two constant bounds are the wrong way round, compared as Java would.
fn reversed(low: &Expr, high: &Expr) -> bool {
    use Expr::Literal as L;
    match (low, high) {
        (L(Literal::Integer(l)), L(Literal::Integer(h))) => h < l,
        (L(Literal::Integer(l)), L(Literal::Float(h))) => *h < *l as f64,
        (L(Literal::Float(l)), L(Literal::Integer(h))) => (*h as f64) < *l,
        (L(Literal::Float(l)), L(Literal::Float(h))) => h < l,
        _ => false,
    }
}

/// Keeps an AND out of an AND (and an OR out of an OR): the parser flattens those.
fn operand_of(parent_is_and: bool, e: Expr) -> Expr {
    match e {
        Expr::And(_) if parent_is_and => Expr::Not(Box::new(e)),
        Expr::Or(_) if !parent_is_and => Expr::Not(Box::new(e)),
        e => e,
    }
}

/// Random trees that RocketMQ's typing rules accept.
fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(Expr::Literal),
        name().prop_map(Expr::Property)
    ];
    let tree = leaf.prop_recursive(5, 48, 4, |inner| {
        let cond = inner.clone().prop_map(condition);
        let cmp = inner.clone().prop_map(comparable);
        let ordering = prop::sample::select(vec![
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ]);
        let text_op =
            prop::sample::select(vec![TextOp::Contains, TextOp::StartsWith, TextOp::EndsWith]);
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Negate(Box::new(e))),
            cond.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (any::<bool>(), prop::collection::vec(cond, 2..4)).prop_map(|(and, items)| {
                let items = items.into_iter().map(|e| operand_of(and, e)).collect();
                if and {
                    Expr::And(items)
                } else {
                    Expr::Or(items)
                }
            }),
            (inner.clone(), any::<bool>(), inner.clone()).prop_map(|(l, ne, r)| {
                let not_null = |e: Expr| match e {
                    Expr::Literal(Literal::Null) => Expr::Negate(Box::new(e)),
                    e => e,
                };
                let (l, mut r) = (not_null(l), not_null(r));
                if matches!(l, Expr::Literal(Literal::Bool(_)))
                    && matches!(r, Expr::Literal(ref lit) if !matches!(lit, Literal::Bool(_)))
                {
                    r = Expr::Negate(Box::new(r));
                }
                let op = if ne { CompareOp::Ne } else { CompareOp::Eq };
                Expr::Compare(Box::new(l), op, Box::new(r))
            }),
            (cmp.clone(), ordering, cmp.clone()).prop_map(|(l, op, r)| Expr::Compare(
                Box::new(l),
                op,
                Box::new(r)
            )),
            (inner.clone(), any::<bool>()).prop_map(|(e, negated)| Expr::IsNull {
                operand: Box::new(e),
                negated
            }),
            (cmp.clone(), cmp.clone(), cmp, any::<bool>()).prop_map(|(x, lo, hi, negated)| {
                let (lo, hi) = if !negated && reversed(&lo, &hi) {
                    (hi, lo)
                } else {
                    (lo, hi)
                };
                Expr::Between {
                    operand: Box::new(x),
                    low: Box::new(lo),
                    high: Box::new(hi),
                    negated,
                }
            }),
            (name(), prop::collection::vec(text(), 1..4), any::<bool>()).prop_map(
                |(property, values, negated)| Expr::In {
                    property,
                    values,
                    negated
                }
            ),
            (inner, text_op, text(), any::<bool>()).prop_map(|(e, op, pattern, negated)| {
                Expr::TextMatch {
                    operand: Box::new(e),
                    op,
                    pattern,
                    negated,
                }
            }),
        ]
    });
    tree.prop_map(condition)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_trees_parse_back_equal(e in expr()) {
        let sql = e.to_string();
        match SqlFilter::compile(&sql) {
            Ok(filter) => prop_assert_eq!(filter.expr(), &e, "{:?}", sql),
            Err(error) => prop_assert!(false, "{:?}: {}", sql, error),
        }
    }
}
