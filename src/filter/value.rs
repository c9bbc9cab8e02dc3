//! Values met while evaluating, and how RocketMQ's Java evaluator (`ComparisonExpression`)
//! equates and orders them. Property values are always strings; constants are Java
//! `Integer`, `Long`, `Double`, `String`, `Boolean` or null.

use super::java_num::{parse_boolean, parse_double, parse_int, parse_long};
use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Bool(bool),
    /// A Java `Integer`: an integer constant that fits in 32 bits.
    Int(i32),
    /// A Java `Long`: a larger integer constant.
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// The Java evaluator threw. RocketMQ catches it around the whole selector and does not
/// deliver the message, whatever the rest of the expression says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Thrown;

impl Value<'_> {
    /// An integer constant as Java holds it: `Integer` if it fits, else `Long`.
    pub(super) fn from_integer(n: i64) -> Value<'static> {
        i32::try_from(n).map_or(Value::Long(n), Value::Int)
    }

    pub(super) fn is_null(self) -> bool {
        matches!(self, Value::Null)
    }

    /// Unary minus: numbers keep their Java type; anything else becomes null.
    pub(super) fn negate(self) -> Self {
        match self {
            Value::Int(n) => Value::Int(n.wrapping_neg()),
            Value::Long(n) => Value::Long(n.wrapping_neg()),
            Value::Double(x) => Value::Double(-x),
            Value::Null | Value::Bool(_) | Value::Str(_) => Value::Null,
        }
    }
}

/// Java's `equals` on two non-null values: same type and same value. Doubles compare by
/// bits, so NaN equals NaN and 0.0 does not equal -0.0.
pub(super) fn java_equals(left: Value, right: Value) -> bool {
    match (left, right) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Long(a), Value::Long(b)) => a == b,
        (Value::Double(a), Value::Double(b)) => double_bits(a) == double_bits(b),
        (Value::Str(a), Value::Str(b)) => a == b,
        _ => false,
    }
}

/// `ComparisonExpression.__compare`: converts the right side to the left side's type (a
/// string to the other side's type, an integer to a wider number) and compares. Pairs it
/// cannot convert compare as "less"; text that does not parse as the number throws.
pub(super) fn java_compare(left: Value, right: Value) -> Result<Ordering, Thrown> {
    use Value::{Bool, Double, Int, Long, Null, Str};
    Ok(match (left, right) {
        (Null, _) | (_, Null) => return Err(Thrown),
        (Bool(a), Bool(b)) => a.cmp(&b),
        // Java casts the Boolean itself to String here: ClassCastException.
        (Bool(_), Str(_)) => return Err(Thrown),
        (Bool(_), _) | (Int(_) | Long(_) | Double(_), Bool(_)) => Ordering::Less,
        (Int(a), Int(b)) => a.cmp(&b),
        (Int(a), Long(b)) => i64::from(a).cmp(&b),
        (Long(a), Int(b)) => a.cmp(&i64::from(b)),
        (Long(a), Long(b)) => a.cmp(&b),
        (Int(a), Double(b)) => double_compare(f64::from(a), b),
        (Long(a), Double(b)) => double_compare(a as f64, b),
        (Double(a), Int(b)) => double_compare(a, f64::from(b)),
        (Double(a), Long(b)) => double_compare(a, b as f64),
        (Double(a), Double(b)) => double_compare(a, b),
        (Int(a), Str(b)) => a.cmp(&parse_int(b)?),
        (Long(a), Str(b)) => a.cmp(&parse_long(b)?),
        (Double(a), Str(b)) => double_compare(a, parse_double(b)?),
        (Str(a), Bool(b)) => parse_boolean(a).cmp(&b),
        (Str(a), Int(b)) => parse_int(a)?.cmp(&b),
        (Str(a), Long(b)) => parse_long(a)?.cmp(&b),
        (Str(a), Double(b)) => double_compare(parse_double(a)?, b),
        // String.compareTo: by UTF-16 code unit.
        (Str(a), Str(b)) => a.encode_utf16().cmp(b.encode_utf16()),
    })
}

/// The ordering `<`, `<=`, `>`, `>=` use on non-null values: two strings are both read as
/// doubles (and throw if either is not one); anything else as [`java_compare`].
pub(super) fn java_order(left: Value, right: Value) -> Result<Ordering, Thrown> {
    match (left, right) {
        (Value::Str(a), Value::Str(b)) => Ok(double_compare(parse_double(a)?, parse_double(b)?)),
        _ => java_compare(left, right),
    }
}

/// `Double.compare`: numeric order, except -0.0 < 0.0 and NaN above everything, equal to
/// itself.
fn double_compare(a: f64, b: f64) -> Ordering {
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        (double_bits(a) as i64).cmp(&(double_bits(b) as i64))
    }
}

/// `Double.doubleToLongBits`: the bits, every NaN folded to one.
fn double_bits(x: f64) -> u64 {
    if x.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        x.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::{Bool, Double, Int, Long, Null, Str};

    #[test]
    fn integer_constants_take_the_narrowest_java_type() {
        assert_eq!(Value::from_integer(5), Int(5));
        assert_eq!(Value::from_integer(1 << 31), Long(1 << 31));
        assert_eq!(Long(1 << 31).negate(), Long(-(1 << 31)));
        assert_eq!(Str("5").negate(), Null);
    }

    #[test]
    fn strings_convert_to_the_constant_type() {
        assert_eq!(java_compare(Str("7"), Int(5)), Ok(Ordering::Greater));
        assert_eq!(java_compare(Int(5), Str("5")), Ok(Ordering::Equal));
        assert_eq!(java_compare(Str("5.5"), Int(5)), Err(Thrown));
        assert_eq!(java_compare(Str("5.5"), Double(5.0)), Ok(Ordering::Greater));
        assert_eq!(java_compare(Str("3000000000"), Int(5)), Err(Thrown));
        assert_eq!(
            java_compare(Str("3000000000"), Long(1 << 31)),
            Ok(Ordering::Greater)
        );
        assert_eq!(java_compare(Str("TRUE"), Bool(true)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Str("yes"), Bool(false)), Ok(Ordering::Equal));
    }

    #[test]
    fn unconvertible_pairs_are_less_or_throw() {
        assert_eq!(java_compare(Bool(true), Int(1)), Ok(Ordering::Less));
        assert_eq!(java_compare(Int(1), Bool(true)), Ok(Ordering::Less));
        assert_eq!(java_compare(Bool(true), Str("true")), Err(Thrown));
    }

    #[test]
    fn numbers_widen() {
        assert_eq!(java_compare(Int(2), Long(1 << 40)), Ok(Ordering::Less));
        assert_eq!(java_compare(Long(3), Double(2.5)), Ok(Ordering::Greater));
        assert_eq!(java_compare(Double(-0.0), Int(0)), Ok(Ordering::Less));
        assert_eq!(
            java_compare(Double(f64::NAN), Double(f64::INFINITY)),
            Ok(Ordering::Greater)
        );
    }

    #[test]
    fn string_pairs_order_as_doubles() {
        assert_eq!(java_order(Str("10"), Str("9")), Ok(Ordering::Greater));
        assert_eq!(java_order(Str("a"), Str("b")), Err(Thrown));
        // Equality of two strings does not convert: "1" sorts before "1.0".
        assert_eq!(java_compare(Str("1"), Str("1.0")), Ok(Ordering::Less));
        // UTF-16 order: U+FFFF sorts after U+10000's lead surrogate.
        assert_eq!(
            java_compare(Str("\u{ffff}"), Str("\u{10000}")),
            Ok(Ordering::Greater)
        );
    }

    #[test]
    fn equals_is_by_type_and_bits() {
        assert!(java_equals(Double(f64::NAN), Double(f64::NAN)));
        assert!(!java_equals(Double(0.0), Double(-0.0)));
        assert!(!java_equals(Int(5), Long(5)));
        assert!(java_equals(Str("x"), Str("x")));
    }
}
