//! Why an expression was refused. Every error names what was expected and, where it points
//! into the expression, the byte span: rendered as `expected … at 12..15`.

use std::fmt;
use thiserror::Error;

/// A half-open byte range of the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// From the start of `self` to the end of `other`.
    pub const fn to(self, other: Span) -> Span {
        Span::new(self.start, other.end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// An expression type, tag expression or SQL92 selector that cannot be compiled. The broker
/// answers the subscription with SUBSCRIPTION_PARSE_FAILED.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FilterError {
    #[error("expected an expression type of TAG, SQL92 or none, found `{found}`")]
    UnknownType { found: String },
    #[error("expected at least one tag between the `||` separators at {span}")]
    NoTags { span: Span },
    #[error("expected an expression, found nothing")]
    Empty,
    #[error("expected at most {max} bytes, found {len}")]
    TooLong { len: usize, max: usize },
    #[error("expected at most {max} levels of nesting at {span}")]
    TooDeep { span: Span, max: usize },
    #[error("expected a closing `'` for the string at {span}")]
    UnterminatedString { span: Span },
    #[error("expected a closing `*/` for the comment at {span}")]
    UnterminatedComment { span: Span },
    #[error("expected an operator or the end of the expression at {span}")]
    TrailingInput { span: Span },
    /// Any other token that does not fit; `expected` lists what would have.
    #[error("expected {expected} at {span}")]
    Unexpected { span: Span, expected: String },
    #[error("expected {expected} at {span}")]
    BadNumber { span: Span, expected: &'static str },
    /// The expression parses but breaks one of the typing rules RocketMQ enforces while it
    /// builds the expression (a number used as a condition, `a > 'x'`, `a = NULL`, …).
    #[error("expected {expected} at {span}")]
    Invalid { span: Span, expected: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_expected_and_where() {
        let e = FilterError::Invalid {
            span: Span::new(12, 15),
            expected: "a boolean expression",
        };
        assert_eq!(e.to_string(), "expected a boolean expression at 12..15");
        let e = FilterError::TooLong { len: 20, max: 10 };
        assert_eq!(e.to_string(), "expected at most 10 bytes, found 20");
    }

    #[test]
    fn span_to_joins_two_spans() {
        assert_eq!(Span::new(2, 4).to(Span::new(7, 9)), Span::new(2, 9));
    }
}
