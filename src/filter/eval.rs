//! The compiled form of a selector and its evaluation.
//!
//! [`SqlFilter::compile`] parses and checks the text, then lowers the tree into [`Cond`]
//! (conditions: TRUE, FALSE or unknown) and [`Operand`] (values) with every constant
//! already converted to its Java type, negated constants folded, `<>`, `IS NOT NULL` and
//! BETWEEN rewritten as RocketMQ builds them, and IN lists sorted. Evaluating reads
//! property strings in place: no allocation per message.

use super::ast::{CompareOp, Expr, Literal, TextOp};
use super::error::FilterError;
use super::parser;
use super::value::{java_compare, java_equals, java_order, Thrown, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::mem::discriminant;

/// Read access to a message's properties, by name.
pub trait Properties {
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Properties for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Properties for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Name–value pairs; a later duplicate wins, as when Java decodes a properties string.
impl Properties for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// A compiled SQL92 selector.
#[derive(Debug)]
pub struct SqlFilter {
    expr: Expr,
    cond: Cond,
}

impl SqlFilter {
    pub fn compile(expression: &str) -> Result<SqlFilter, FilterError> {
        let expr = parser::parse(expression)?;
        let cond = Cond::lower(&expr);
        Ok(SqlFilter { expr, cond })
    }

    /// Whether the message is delivered: only if the selector is TRUE. Unknown (NULL) and
    /// a Java exception both mean no.
    pub fn evaluate<P: Properties + ?Sized>(&self, props: &P) -> bool {
        self.outcome(props) == Outcome::True
    }

    /// What the selector evaluates to, for diagnostics: RocketMQ logs the thrown case.
    pub fn outcome<P: Properties + ?Sized>(&self, props: &P) -> Outcome {
        match self.cond.eval(props) {
            Ok(Some(true)) => Outcome::True,
            Ok(Some(false)) => Outcome::False,
            Ok(None) => Outcome::Unknown,
            Err(Thrown) => Outcome::Thrown,
        }
    }

    /// The checked syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

/// The value of a selector for one message. Only `True` delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    True,
    False,
    /// SQL's NULL: a missing property made the answer unknown.
    Unknown,
    /// RocketMQ's evaluator would have thrown (a property that does not parse as the
    /// number it is compared with, …).
    Thrown,
}

/// Prints the selector as SQL that compiles to the same filter.
impl fmt::Display for SqlFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

/// A condition: evaluates to TRUE, FALSE or unknown.
#[derive(Debug)]
enum Cond {
    Const(Option<bool>),
    /// A property read as a condition: unknown when absent, else FALSE (a property value
    /// is a string, never a Boolean).
    Present(Box<str>),
    Not(Box<Cond>),
    And(Box<[Cond]>),
    Or(Box<[Cond]>),
    Equal(Operand, Operand),
    IsNull(Operand),
    /// `<`, `<=`, `>`, `>=`.
    Order(Operand, CompareOp, Operand),
    In {
        property: Box<str>,
        sorted: Box<[Box<str>]>,
        negated: bool,
    },
    Text {
        operand: Operand,
        op: TextOp,
        pattern: Box<str>,
        negated: bool,
    },
}

/// A value: a constant, a property, a negation or a condition's result.
#[derive(Debug)]
enum Operand {
    Const(Constant),
    Property(Box<str>),
    Negate(Box<Operand>),
    Cond(Box<Cond>),
}

/// A constant in its Java type.
#[derive(Debug)]
enum Constant {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Box<str>),
}

impl Constant {
    fn value(&self) -> Value<'_> {
        match self {
            Constant::Null => Value::Null,
            Constant::Bool(b) => Value::Bool(*b),
            Constant::Int(n) => Value::Int(*n),
            Constant::Long(n) => Value::Long(*n),
            Constant::Double(x) => Value::Double(*x),
            Constant::Str(s) => Value::Str(s),
        }
    }
}

impl From<Value<'_>> for Constant {
    fn from(value: Value<'_>) -> Self {
        match value {
            Value::Null => Constant::Null,
            Value::Bool(b) => Constant::Bool(b),
            Value::Int(n) => Constant::Int(n),
            Value::Long(n) => Constant::Long(n),
            Value::Double(x) => Constant::Double(x),
            Value::Str(s) => Constant::Str(s.into()),
        }
    }
}

/// A literal as the Java value RocketMQ makes of it.
fn literal_value(literal: &Literal) -> Value<'_> {
    match literal {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Integer(n) => Value::from_integer(*n),
        Literal::Float(x) => Value::Double(*x),
        Literal::String(s) => Value::Str(s),
    }
}

impl Cond {
    /// `expr` in a condition's place (checked by the parser).
    fn lower(expr: &Expr) -> Cond {
        let order = |l: &Expr, op, r: &Expr| Cond::Order(Operand::lower(l), op, Operand::lower(r));
        match expr {
            Expr::Literal(Literal::Bool(b)) => Cond::Const(Some(*b)),
            Expr::Property(name) => Cond::Present(name.as_str().into()),
            Expr::Not(inner) => Cond::Not(Box::new(Cond::lower(inner))),
            Expr::And(items) => Cond::And(items.iter().map(Cond::lower).collect()),
            Expr::Or(items) => Cond::Or(items.iter().map(Cond::lower).collect()),
            Expr::Compare(l, CompareOp::Eq, r) => Cond::Equal(Operand::lower(l), Operand::lower(r)),
            Expr::Compare(l, CompareOp::Ne, r) => {
                let equal = Cond::Equal(Operand::lower(l), Operand::lower(r));
                Cond::Not(Box::new(equal))
            }
            Expr::Compare(l, op, r) => order(l, *op, r),
            Expr::IsNull { operand, negated } => {
                let is_null = Cond::IsNull(Operand::lower(operand));
                if *negated {
                    Cond::Not(Box::new(is_null))
                } else {
                    is_null
                }
            }
            Expr::Between {
                operand: x,
                low,
                high,
                negated: false,
            } => Cond::And(Box::new([
                order(x, CompareOp::Ge, low),
                order(x, CompareOp::Le, high),
            ])),
            Expr::Between {
                operand: x,
                low,
                high,
                negated: true,
            } => Cond::Or(Box::new([
                order(x, CompareOp::Lt, low),
                order(x, CompareOp::Gt, high),
            ])),
            Expr::In {
                property,
                values,
                negated,
            } => {
                let mut sorted: Vec<Box<str>> = values.iter().map(|v| v.as_str().into()).collect();
                sorted.sort();
                sorted.dedup();
                Cond::In {
                    property: property.as_str().into(),
                    sorted: sorted.into(),
                    negated: *negated,
                }
            }
            Expr::TextMatch {
                operand,
                op,
                pattern,
                negated,
            } => Cond::Text {
                operand: Operand::lower(operand),
                op: *op,
                pattern: pattern.as_str().into(),
                negated: *negated,
            },
            // NULL; numbers, strings and negations never stand as conditions once parsed.
            Expr::Literal(_) | Expr::Negate(_) => Cond::Const(None),
        }
    }

    fn eval<'a, P: Properties + ?Sized>(&'a self, props: &'a P) -> Result<Option<bool>, Thrown> {
        Ok(match self {
            Cond::Const(c) => *c,
            Cond::Present(name) => props.get(name).map(|_| false),
            Cond::Not(inner) => inner.eval(props)?.map(|b| !b),
            // Left to right, stopping at the first FALSE (AND) or TRUE (OR).
            Cond::And(items) => all_or_any(items, props, false)?,
            Cond::Or(items) => all_or_any(items, props, true)?,
            Cond::Equal(l, r) => {
                let (lv, rv) = (l.eval(props)?, r.eval(props)?);
                match (lv.is_null(), rv.is_null()) {
                    (true, true) => Some(true),
                    (true, false) => None,
                    (false, true) => Some(false),
                    // Two values of one type compare equal exactly when they are `equals`;
                    // only a mixed pair needs the converting comparison.
                    (false, false) => Some(
                        java_equals(lv, rv)
                            || (discriminant(&lv) != discriminant(&rv)
                                && java_compare(lv, rv)? == Ordering::Equal),
                    ),
                }
            }
            Cond::IsNull(operand) => Some(operand.eval(props)?.is_null()),
            Cond::Order(l, op, r) => {
                // The right side is not evaluated when the left is null.
                let lv = l.eval(props)?;
                if lv.is_null() {
                    return Ok(None);
                }
                let rv = r.eval(props)?;
                if rv.is_null() {
                    return Ok(None);
                }
                let ord = java_order(lv, rv)?;
                Some(match op {
                    CompareOp::Gt => ord.is_gt(),
                    CompareOp::Ge => ord.is_ge(),
                    CompareOp::Lt => ord.is_lt(),
                    _ => ord.is_le(),
                })
            }
            Cond::In {
                property,
                sorted,
                negated,
            } => props
                .get(property)
                .map(|v| sorted.binary_search_by(|x| (**x).cmp(v)).is_ok() != *negated),
            Cond::Text {
                operand,
                op,
                pattern,
                negated,
            } => {
                // An empty pattern, a null or a non-string is FALSE, negated or not.
                if pattern.is_empty() {
                    return Ok(Some(false));
                }
                match operand.eval(props)? {
                    Value::Str(s) => Some(
                        match op {
                            TextOp::Contains => s.contains(&**pattern),
                            TextOp::StartsWith => s.starts_with(&**pattern),
                            TextOp::EndsWith => s.ends_with(&**pattern),
                        } != *negated,
                    ),
                    _ => Some(false),
                }
            }
        })
    }
}

/// AND (`stop_at` FALSE) or OR (`stop_at` TRUE) in three-valued logic.
fn all_or_any<P: Properties + ?Sized>(
    items: &[Cond],
    props: &P,
    stop_at: bool,
) -> Result<Option<bool>, Thrown> {
    let mut unknown = false;
    for item in items {
        match item.eval(props)? {
            Some(b) if b == stop_at => return Ok(Some(stop_at)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown { None } else { Some(!stop_at) })
}

impl Operand {
    fn lower(expr: &Expr) -> Operand {
        match expr {
            Expr::Literal(lit) => Operand::Const(literal_value(lit).into()),
            Expr::Property(name) => Operand::Property(name.as_str().into()),
            // A constant cannot throw: fold it.
            Expr::Negate(inner) => match Operand::lower(inner) {
                Operand::Const(c) => Operand::Const(c.value().negate().into()),
                other => Operand::Negate(Box::new(other)),
            },
            cond => Operand::Cond(Box::new(Cond::lower(cond))),
        }
    }

    fn eval<'a, P: Properties + ?Sized>(&'a self, props: &'a P) -> Result<Value<'a>, Thrown> {
        Ok(match self {
            Operand::Const(c) => c.value(),
            Operand::Property(name) => props.get(name).map_or(Value::Null, Value::Str),
            Operand::Negate(inner) => inner.eval(props)?.negate(),
            Operand::Cond(cond) => cond.eval(props)?.map_or(Value::Null, Value::Bool),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(sql: &str) -> Cond {
        Cond::lower(&parser::parse(sql).unwrap())
    }

    #[test]
    fn negated_constants_are_folded_keeping_their_java_type() {
        let Cond::Equal(_, Operand::Const(c)) = lower("a = -2147483648") else {
            panic!("not an equality");
        };
        // 2147483648 is a Long, and so is its negation, though it would fit an Integer.
        assert!(matches!(c, Constant::Long(-2_147_483_648)));
        let Cond::Equal(_, Operand::Const(c)) = lower("a = - -'x'") else {
            panic!("not an equality");
        };
        assert!(matches!(c, Constant::Null));
        assert!(matches!(
            lower("a = -b"),
            Cond::Equal(_, Operand::Negate(_))
        ));
    }

    #[test]
    fn rewrites_follow_rocketmq() {
        assert!(matches!(lower("a <> 1"), Cond::Not(inner) if matches!(*inner, Cond::Equal(..))));
        assert!(
            matches!(lower("a IS NOT NULL"), Cond::Not(inner) if matches!(*inner, Cond::IsNull(_)))
        );
        let Cond::Or(terms) = lower("a NOT BETWEEN 1 AND 2") else {
            panic!("not an OR");
        };
        assert!(matches!(
            &terms[..],
            [
                Cond::Order(_, CompareOp::Lt, _),
                Cond::Order(_, CompareOp::Gt, _)
            ]
        ));
    }

    #[test]
    fn in_lists_are_sorted_and_deduplicated() {
        let Cond::In { sorted, .. } = lower("a IN ('y', 'x', 'y')") else {
            panic!("not IN");
        };
        assert_eq!(&*sorted, [Box::from("x"), Box::from("y")]);
    }

    #[test]
    fn property_sources_agree() {
        let pairs: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("a", "3")];
        let map: HashMap<String, String> = [("a".into(), "3".into())].into();
        let tree: BTreeMap<String, String> = [("a".into(), "3".into())].into();
        assert_eq!(Properties::get(pairs, "a"), Some("3"));
        assert_eq!(Properties::get(&map, "a"), Some("3"));
        assert_eq!(Properties::get(&tree, "a"), Some("3"));
        assert_eq!(Properties::get(pairs, "c"), None);
    }
}
