//! Message filters: tag expressions and SQL92 selectors. Pure: no I/O, no actors.
//!
//! A subscription's expression is compiled once ([`compile`]) and evaluated per message
//! without allocating: [`TagFilter::matches_code`] against a consume-queue tag code,
//! [`SqlFilter::evaluate`] against the message's [`Properties`] ([`SqlFilter::outcome`]
//! tells unknown from false from thrown, for logs).
//!
//! - `tag`: `*`, `a || b`, and Java's `String.hashCode` for tags;
//! - `grammar.pest`, `parser`: SQL92 text → [`Expr`], within the limits [`MAX_LEN`] and
//!   [`MAX_DEPTH`] (`scan` enforces them before pest runs); `check`: RocketMQ's typing
//!   rules;
//! - `ast`: the tree and its printer; `eval`: the compiled form and evaluation;
//! - `value`, `java_num`: Java's conversions and comparisons, as RocketMQ's evaluator
//!   (`ComparisonExpression`) applies them;
//! - `error`: [`FilterError`], with byte spans.
//!
//! # SQL92 semantics
//!
//! As RocketMQ 5.x evaluates them (its `filter` module; every row of the truth table in
//! `tests/it/filter.rs` gives the same answer there). Property values are strings; a
//! missing property is null. Constants are Java `Integer` (an integer literal that fits 32
//! bits, also after a minus sign: `-2147483648` is a `Long`), `Long`, `Double`, `String`,
//! `Boolean` or null. Every operator yields TRUE, FALSE or NULL (unknown) — or *throws*: a
//! Java exception aborts the whole selector and the message is not delivered, whatever
//! the rest of it says. A message is delivered only if the selector is TRUE.
//!
//! | expression | result |
//! |---|---|
//! | a property as a condition (`a`, `a AND b`, `NOT a`) | NULL if missing, else FALSE — even for `true` (a value is never a Java Boolean) |
//! | `TRUE`, `FALSE`, `NULL` as the condition | TRUE, FALSE, NULL |
//! | `NOT x` | TRUE ↔ FALSE; NULL stays NULL |
//! | `x AND y AND …` | left to right, stopping at the first FALSE: FALSE if one is FALSE, else NULL if one is NULL, else TRUE; a throw before the stop throws |
//! | `x OR y OR …` | the same with TRUE in place of FALSE |
//! | `x > y`, `>=`, `<`, `<=` | NULL if `x` is null (then `y` is not evaluated) or `y` is null; two strings (`a > b`) are both read with `Double.valueOf`, throwing if either does not parse; anything else: *compare* below |
//! | `x = y` | both null: TRUE; only `x` null: NULL; only `y` null: FALSE; same type and value (Java `equals`): TRUE; otherwise *compare* = 0 |
//! | `x <> y` | `NOT (x = y)`: `a <> 'x'` is NULL for a missing `a`, but `'x' <> a` is TRUE |
//! | *compare* string with `Integer` / `Long` / `Double` (either side) | the string is read as that type (`Integer.valueOf` …) and compared as numbers; text that does not parse throws: `a = 5` throws for `a` = `5.0`, `abc` or ` 5`; `a = 5.0` is TRUE for `5` and ` 5 `. `Double.valueOf` ignores surrounding blanks and reads `NaN`, `Infinity`, hex floats and an `f`/`d` suffix; `Integer.valueOf` reads a sign and digits only |
//! | *compare* string with `Boolean` | `a = TRUE` is TRUE iff `a` is `true` in any letter case, FALSE otherwise; `TRUE = a` throws (Java casts the Boolean to String) |
//! | *compare* number with number | the narrower is widened (`Integer` → `Long` → `Double`); doubles as `Double.compare` (-0.0 < 0.0, NaN above all, NaN = NaN) |
//! | *compare* Boolean with number (either side) | "less": `=` is FALSE |
//! | *compare* string with string | only reached by `=`: exact text, no numbers (`'1' = '1.0'` is FALSE) |
//! | `x IS NULL`, `x IS NOT NULL` | TRUE or FALSE, never NULL |
//! | `x BETWEEN l AND h` | `x >= l AND x <= h`, so `a BETWEEN 3.0 AND 5` throws for `a` = `4.5` (the `5` reads `a` as an Integer) |
//! | `x NOT BETWEEN l AND h` | `x < l OR x > h` |
//! | `a IN ('x', …)`, `a NOT IN (…)` | NULL if `a` is missing; else exact membership (negated) |
//! | `x CONTAINS 'p'`, `STARTSWITH`, `ENDSWITH`, and their `NOT` forms | FALSE if `p` is empty or `x` is null or not a string — for the `NOT` forms too (`NOT (a CONTAINS 'p')` is TRUE for a missing `a`, `a NOT CONTAINS 'p'` FALSE); else the test (negated) |
//! | `-x` | a number negated, keeping its type; anything else null |
//!
//! Compile-time rules (RocketMQ's; [`FilterError::Invalid`]): the operands of AND, OR, NOT
//! and the selector itself must be conditions (a property counts; a number, a string or a
//! negation does not); `<`, `<=`, `>`, `>=` and BETWEEN take numbers, properties and
//! negations only; `=` and `<>` refuse a NULL literal, and a boolean literal on the left of
//! a number or string literal; IN needs a property on its left; BETWEEN (not NOT BETWEEN)
//! with two literal bounds needs them in order; a float literal must be finite and not
//! zero (`0.0` is refused); an integer must fit in 64 bits. Prefix operators bind tightest:
//! `NOT a = 1` is `(NOT a) = 1`, and `NOT a > 1` is an error.
//!
//! Where this port differs: RocketMQ ignores whatever follows the first complete
//! expression (`a = 1 b` means `a = 1`); here it is an error, except a last `--` comment.
//! RocketMQ has no limits (it overflows its stack near 2,000 nested parentheses); here
//! [`MAX_LEN`] and [`MAX_DEPTH`] apply. Java's `Integer.valueOf` also reads non-ASCII
//! decimal digits (`٣`); here only ASCII ones, so such a comparison throws.

mod ast;
mod check;
mod error;
mod eval;
mod java_num;
mod parser;
mod scan;
mod tag;
mod value;

pub use ast::{CompareOp, Expr, Literal, TextOp};
pub use error::{FilterError, Span};
pub use eval::{Outcome, Properties, SqlFilter};
pub use parser::{MAX_DEPTH, MAX_LEN};
pub use tag::{tag_hash, TagFilter};

/// The `expressionType` of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpressionType {
    Tag,
    Sql92,
}

impl ExpressionType {
    /// From the header or subscription field, as Java's `ExpressionType.isTagType` and
    /// `FilterFactory` read it: absent, empty or `TAG` is a tag expression, `SQL92` is
    /// SQL92 (both case-sensitive), anything else is refused.
    pub fn from_header(value: Option<&str>) -> Result<ExpressionType, FilterError> {
        match value {
            None | Some("" | "TAG") => Ok(ExpressionType::Tag),
            Some("SQL92") => Ok(ExpressionType::Sql92),
            Some(other) => Err(FilterError::UnknownType {
                found: other.to_owned(),
            }),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ExpressionType::Tag => "TAG",
            ExpressionType::Sql92 => "SQL92",
        }
    }
}

/// A compiled subscription expression.
#[derive(Debug)]
pub enum Filter {
    Tag(TagFilter),
    Sql(SqlFilter),
}

/// Compiles a subscription's expression of the given type.
pub fn compile(expression_type: ExpressionType, expression: &str) -> Result<Filter, FilterError> {
    match expression_type {
        ExpressionType::Tag => TagFilter::parse(expression).map(Filter::Tag),
        ExpressionType::Sql92 => SqlFilter::compile(expression).map(Filter::Sql),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_type_reads_like_java() {
        assert_eq!(ExpressionType::from_header(None), Ok(ExpressionType::Tag));
        assert_eq!(
            ExpressionType::from_header(Some("")),
            Ok(ExpressionType::Tag)
        );
        assert_eq!(
            ExpressionType::from_header(Some("TAG")),
            Ok(ExpressionType::Tag)
        );
        assert_eq!(
            ExpressionType::from_header(Some("SQL92")),
            Ok(ExpressionType::Sql92)
        );
        assert!(ExpressionType::from_header(Some("sql92")).is_err());
        assert_eq!(ExpressionType::Sql92.as_str(), "SQL92");
    }

    #[test]
    fn compile_dispatches_on_the_type() {
        assert!(matches!(
            compile(ExpressionType::Tag, "a || b"),
            Ok(Filter::Tag(_))
        ));
        assert!(matches!(
            compile(ExpressionType::Sql92, "a > 1"),
            Ok(Filter::Sql(_))
        ));
        // The same text is a tag under TAG and a syntax error under SQL92.
        assert!(compile(ExpressionType::Tag, "a b").is_ok());
        assert!(compile(ExpressionType::Sql92, "a b").is_err());
    }
}
