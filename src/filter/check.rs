//! The typing rules RocketMQ enforces while it builds an expression (its parser throws,
//! and the subscription is refused). Each takes a subtree and where it is in the text.

use super::ast::{Expr, Literal};
use super::error::{FilterError, Span};
use super::value::{java_compare, Value};
use std::cmp::Ordering;

fn invalid(span: Span, expected: &'static str) -> FilterError {
    FilterError::Invalid { span, expected }
}

/// `asBooleanExpression`: the operands of AND, OR, NOT and the whole selector must be
/// conditions. A property is read as one; a number, a string or a negation is refused.
pub(super) fn condition(expr: &Expr, span: Span) -> Result<(), FilterError> {
    match expr {
        Expr::Literal(Literal::Integer(_) | Literal::Float(_) | Literal::String(_))
        | Expr::Negate(_) => Err(invalid(span, "a boolean expression")),
        _ => Ok(()),
    }
}

/// `checkLessThanOperand`: `<`, `<=`, `>`, `>=` and BETWEEN take numbers, properties and
/// negations, never a string, boolean or NULL literal, nor a condition.
pub(super) fn comparable(expr: &Expr, span: Span) -> Result<(), FilterError> {
    match expr {
        Expr::Literal(Literal::Integer(_) | Literal::Float(_))
        | Expr::Property(_)
        | Expr::Negate(_) => Ok(()),
        _ => Err(invalid(span, "a number or a property")),
    }
}

/// `checkEqualOperand` and `checkEqualOperandCompatability` for `=` and `<>`: no NULL
/// literal on either side, and a boolean literal only against another one or a
/// non-literal.
pub(super) fn equatable(left: (&Expr, Span), right: (&Expr, Span)) -> Result<(), FilterError> {
    for (expr, span) in [left, right] {
        if *expr == Expr::Literal(Literal::Null) {
            return Err(invalid(span, "a value other than NULL (use IS NULL)"));
        }
    }
    match (left.0, right.0) {
        (Expr::Literal(Literal::Bool(_)), Expr::Literal(lit))
            if !matches!(lit, Literal::Bool(_)) =>
        {
            Err(invalid(right.1, "TRUE or FALSE after a boolean literal"))
        }
        _ => Ok(()),
    }
}

/// `createBetween`: two constant bounds must be in order (NOT BETWEEN is not checked).
pub(super) fn bounds(low: (&Expr, Span), high: (&Expr, Span)) -> Result<(), FilterError> {
    if let (Some(lo), Some(hi)) = (number(low.0), number(high.0)) {
        if matches!(java_compare(hi, lo), Ok(Ordering::Less)) {
            let span = low.1.to(high.1);
            return Err(invalid(
                span,
                "a lower bound that is not above the upper bound",
            ));
        }
    }
    Ok(())
}

/// A numeric literal as the Java value RocketMQ makes of it.
fn number(expr: &Expr) -> Option<Value<'static>> {
    match expr {
        Expr::Literal(Literal::Integer(n)) => Some(Value::from_integer(*n)),
        Expr::Literal(Literal::Float(x)) => Some(Value::Double(*x)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Span = Span::new(0, 1);

    fn lit(literal: Literal) -> Expr {
        Expr::Literal(literal)
    }

    #[test]
    fn conditions_exclude_numbers_strings_and_negations() {
        assert!(condition(&Expr::Property("a".into()), AT).is_ok());
        assert!(condition(&lit(Literal::Null), AT).is_ok());
        assert!(condition(&lit(Literal::Integer(1)), AT).is_err());
        assert!(condition(&lit(Literal::String("x".into())), AT).is_err());
        let negate = Expr::Negate(Box::new(Expr::Property("a".into())));
        assert!(condition(&negate, AT).is_err());
    }

    #[test]
    fn comparable_operands_are_numbers_properties_negations() {
        assert!(comparable(&lit(Literal::Float(1.5)), AT).is_ok());
        assert!(comparable(&lit(Literal::Bool(true)), AT).is_err());
        let not = Expr::Not(Box::new(Expr::Property("a".into())));
        assert!(comparable(&not, AT).is_err());
    }

    #[test]
    fn equality_refuses_null_and_mixed_boolean_literals() {
        let a = Expr::Property("a".into());
        assert!(equatable((&a, AT), (&lit(Literal::Null), AT)).is_err());
        assert!(equatable(
            (&lit(Literal::Bool(true)), AT),
            (&lit(Literal::Integer(1)), AT)
        )
        .is_err());
        // The other way round RocketMQ accepts (and evaluates to FALSE).
        assert!(equatable(
            (&lit(Literal::Integer(1)), AT),
            (&lit(Literal::Bool(true)), AT)
        )
        .is_ok());
        assert!(equatable((&lit(Literal::Bool(true)), AT), (&a, AT)).is_ok());
    }

    #[test]
    fn constant_bounds_must_be_in_java_order() {
        let three = lit(Literal::Integer(3));
        let three_and_a_half = lit(Literal::Float(3.5));
        assert!(bounds((&three, AT), (&three_and_a_half, AT)).is_ok());
        assert!(bounds((&three_and_a_half, AT), (&three, AT)).is_err());
        assert!(bounds((&three, AT), (&three, AT)).is_ok());
        let negated = Expr::Negate(Box::new(three.clone()));
        assert!(bounds((&three, AT), (&negated, AT)).is_ok());
    }
}
