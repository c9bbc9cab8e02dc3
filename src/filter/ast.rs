//! The syntax tree of a SQL92 selector, and its printer.
//!
//! The tree keeps what the text said, not what it evaluates to: `-5` stays a negation of
//! `5`, `5L` and `5` are the same integer, parentheses and unary `+` leave no trace, and
//! a chain of ANDs (or ORs) is one node however it was parenthesised. [`Display`] prints
//! SQL that parses back to an equal tree, with only the parentheses that precedence needs.
//!
//! [`Display`]: std::fmt::Display

use std::fmt::{self, Write};

/// A SQL92 selector expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A message property, by name (never a keyword).
    Property(String),
    /// `-x`.
    Negate(Box<Expr>),
    /// `NOT x`.
    Not(Box<Expr>),
    /// `a AND b AND …`: at least two operands, none of them an `And`.
    And(Vec<Expr>),
    /// `a OR b OR …`: at least two operands, none of them an `Or`.
    Or(Vec<Expr>),
    /// `a = b`, `a <> b`, `a > b`, …
    Compare(Box<Expr>, CompareOp, Box<Expr>),
    /// `x IS NULL`, `x IS NOT NULL`.
    IsNull {
        operand: Box<Expr>,
        negated: bool,
    },
    /// `x BETWEEN low AND high`, `x NOT BETWEEN low AND high`.
    Between {
        operand: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `name IN ('a', …)`, `name NOT IN ('a', …)`: at least one value, in source order.
    In {
        property: String,
        values: Vec<String>,
        negated: bool,
    },
    /// `x CONTAINS 'p'`, `x NOT STARTSWITH 'p'`, …
    TextMatch {
        operand: Box<Expr>,
        op: TextOp,
        pattern: String,
        negated: bool,
    },
}

/// A constant as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// Never negative (a minus sign is a [`Expr::Negate`]).
    Integer(i64),
    /// Finite and above zero, as RocketMQ requires of a float literal.
    Float(f64),
    String(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

impl CompareOp {
    pub const fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }

    /// `=` and `<>` bind more loosely than the ordering operators.
    const fn is_equality(self) -> bool {
        matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

impl TextOp {
    pub const fn keyword(self) -> &'static str {
        match self {
            TextOp::Contains => "CONTAINS",
            TextOp::StartsWith => "STARTSWITH",
            TextOp::EndsWith => "ENDSWITH",
        }
    }
}

/// Binding strength, loosest first; the same levels as the parser's PrattParser, plus one
/// for prefix operators and one for atoms.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Equality,
    Comparison,
    Prefix,
    Atom,
}

impl Expr {
    fn prec(&self) -> Prec {
        match self {
            Expr::Literal(_) | Expr::Property(_) => Prec::Atom,
            Expr::Negate(_) | Expr::Not(_) => Prec::Prefix,
            Expr::Or(_) => Prec::Or,
            Expr::And(_) => Prec::And,
            Expr::Compare(_, op, _) if op.is_equality() => Prec::Equality,
            Expr::IsNull { .. } => Prec::Equality,
            Expr::Compare(..) | Expr::Between { .. } | Expr::In { .. } | Expr::TextMatch { .. } => {
                Prec::Comparison
            }
        }
    }

    /// Writes `self`, in parentheses if it binds more loosely than `min`.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, min: Prec) -> fmt::Result {
        if self.prec() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

fn not(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, min: Prec) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item.write_at(f, min)?;
    }
    Ok(())
}

/// `'text'`, doubling each quote inside.
fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('\'')?;
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            f.write_str("''")?;
        }
        f.write_str(part)?;
    }
    f.write_char('\'')
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Integer(n) => write!(f, "{n}"),
            // Debug is the shortest text that reads back to the same f64, and always has a
            // `.` or an exponent, so it reads back as a float: `1.0`, `1.5e300`, `5e-324`.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::String(s) => write_string(f, s),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(lit) => write!(f, "{lit}"),
            Expr::Property(name) => f.write_str(name),
            Expr::Negate(operand) => {
                f.write_char('-')?;
                // `- -x`, never `--x`, which would start a comment before a line break.
                if matches!(**operand, Expr::Negate(_)) {
                    f.write_char(' ')?;
                }
                operand.write_at(f, Prec::Prefix)
            }
            Expr::Not(operand) => {
                f.write_str("NOT ")?;
                operand.write_at(f, Prec::Prefix)
            }
            Expr::Or(items) => write_joined(f, items, " OR ", Prec::And),
            Expr::And(items) => write_joined(f, items, " AND ", Prec::Equality),
            Expr::Compare(left, op, right) => {
                // Left-associative: the right side must bind strictly tighter.
                let (here, tighter) = if op.is_equality() {
                    (Prec::Equality, Prec::Comparison)
                } else {
                    (Prec::Comparison, Prec::Prefix)
                };
                left.write_at(f, here)?;
                write!(f, " {} ", op.symbol())?;
                right.write_at(f, tighter)
            }
            Expr::IsNull { operand, negated } => {
                operand.write_at(f, Prec::Equality)?;
                write!(f, " IS {}NULL", not(*negated))
            }
            Expr::Between {
                operand,
                low,
                high,
                negated,
            } => {
                operand.write_at(f, Prec::Comparison)?;
                write!(f, " {}BETWEEN ", not(*negated))?;
                low.write_at(f, Prec::Prefix)?;
                f.write_str(" AND ")?;
                high.write_at(f, Prec::Prefix)
            }
            Expr::In {
                property,
                values,
                negated,
            } => {
                write!(f, "{property} {}IN (", not(*negated))?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_string(f, value)?;
                }
                f.write_char(')')
            }
            Expr::TextMatch {
                operand,
                op,
                pattern,
                negated,
            } => {
                operand.write_at(f, Prec::Comparison)?;
                write!(f, " {}{} ", not(*negated), op.keyword())?;
                write_string(f, pattern)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str) -> Box<Expr> {
        Box::new(Expr::Property(name.into()))
    }

    fn int(n: i64) -> Box<Expr> {
        Box::new(Expr::Literal(Literal::Integer(n)))
    }

    #[test]
    fn strings_double_their_quotes() {
        let e = Expr::Literal(Literal::String("it's ''".into()));
        assert_eq!(e.to_string(), "'it''s '''''");
    }

    #[test]
    fn floats_print_as_floats() {
        assert_eq!(Literal::Float(1.0).to_string(), "1.0");
        assert_eq!(Literal::Float(1.5e300).to_string(), "1.5e300");
        assert_eq!(Literal::Float(5e-324).to_string(), "5e-324");
    }

    #[test]
    fn parenthesises_only_where_precedence_needs_it() {
        let or = Expr::Or(vec![
            Expr::Compare(prop("a"), CompareOp::Gt, int(1)),
            Expr::Compare(prop("b"), CompareOp::Eq, int(2)),
        ]);
        let and = Expr::And(vec![or.clone(), Expr::Property("c".into())]);
        assert_eq!(and.to_string(), "(a > 1 OR b = 2) AND c");
        let not = Expr::Not(Box::new(or));
        assert_eq!(not.to_string(), "NOT (a > 1 OR b = 2)");
    }

    #[test]
    fn comparisons_are_left_associative() {
        let left = Expr::Compare(
            Box::new(Expr::Compare(prop("a"), CompareOp::Eq, prop("b"))),
            CompareOp::Eq,
            prop("c"),
        );
        assert_eq!(left.to_string(), "a = b = c");
        let right = Expr::Compare(
            prop("a"),
            CompareOp::Eq,
            Box::new(Expr::Compare(prop("b"), CompareOp::Eq, prop("c"))),
        );
        assert_eq!(right.to_string(), "a = (b = c)");
    }

    #[test]
    fn double_negation_does_not_print_a_comment() {
        let e = Expr::Negate(Box::new(Expr::Negate(int(5))));
        assert_eq!(e.to_string(), "- -5");
    }

    #[test]
    fn postfix_operators_print_after_their_operand() {
        let e = Expr::Between {
            operand: prop("a"),
            low: Box::new(Expr::Negate(int(1))),
            high: int(2),
            negated: true,
        };
        assert_eq!(e.to_string(), "a NOT BETWEEN -1 AND 2");
        let e = Expr::In {
            property: "t".into(),
            values: vec!["x".into(), "y".into()],
            negated: false,
        };
        assert_eq!(e.to_string(), "t IN ('x', 'y')");
        let e = Expr::TextMatch {
            operand: prop("s"),
            op: TextOp::EndsWith,
            pattern: "z".into(),
            negated: true,
        };
        assert_eq!(e.to_string(), "s NOT ENDSWITH 'z'");
        let e = Expr::IsNull {
            operand: Box::new(Expr::Compare(prop("a"), CompareOp::Eq, int(1))),
            negated: true,
        };
        assert_eq!(e.to_string(), "a = 1 IS NOT NULL");
    }
}
