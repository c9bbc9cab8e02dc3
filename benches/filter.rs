//! Filter cost per message: a five-term SQL92 selector evaluated over a message's
//! properties (matching and not matching), and a tag-code check.

use apogee::filter::{tag_hash, SqlFilter, TagFilter};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const SELECTOR: &str =
    "a BETWEEN 3 AND 5 AND b IN ('x','y') AND c IS NOT NULL AND d <> 'z' AND e > 1.5";

/// Properties as a broker holds them: a handful of name–value pairs, the five the
/// selector reads among them.
const MATCHING: &[(&str, &str)] = &[
    ("TAGS", "TagA"),
    ("KEYS", "OrderID188"),
    ("UNIQ_KEY", "7F000001A4E418B4AAC25A5A2F8D0000"),
    ("a", "4"),
    ("b", "y"),
    ("c", "present"),
    ("d", "w"),
    ("e", "2.25"),
];

/// Fails on the last term, so every term is evaluated.
const FAILING_LAST: &[(&str, &str)] = &[
    ("TAGS", "TagA"),
    ("KEYS", "OrderID188"),
    ("UNIQ_KEY", "7F000001A4E418B4AAC25A5A2F8D0000"),
    ("a", "4"),
    ("b", "y"),
    ("c", "present"),
    ("d", "w"),
    ("e", "1.25"),
];

fn sql(c: &mut Criterion) {
    let filter = SqlFilter::compile(SELECTOR).expect("bench selector compiles");
    assert!(filter.evaluate(MATCHING) && !filter.evaluate(FAILING_LAST));
    c.bench_function("sql92_five_terms_match", |b| {
        b.iter(|| filter.evaluate(black_box(MATCHING)))
    });
    c.bench_function("sql92_five_terms_no_match", |b| {
        b.iter(|| filter.evaluate(black_box(FAILING_LAST)))
    });
    c.bench_function("sql92_compile", |b| {
        b.iter(|| SqlFilter::compile(black_box(SELECTOR)))
    });
}

fn tag(c: &mut Criterion) {
    let filter = TagFilter::parse("TagA || TagB || TagC").expect("bench tags parse");
    let code = i64::from(tag_hash("TagB"));
    c.bench_function("tag_code_match", |b| {
        b.iter(|| filter.matches_code(black_box(code)))
    });
}

criterion_group!(benches, sql, tag);
criterion_main!(benches);
