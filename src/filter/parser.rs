//! SQL92 text → [`Expr`]: limits first, then the pest grammar, then a PrattParser that
//! groups operators and builds the tree, checking RocketMQ's typing rules on the way.
//!
//! Hostile input cannot hurt the broker: the text is capped at [`MAX_LEN`] bytes; a cheap
//! scan that knows strings and comments caps parenthesis nesting at [`MAX_DEPTH`] before
//! pest (which recurses once per parenthesis) runs; and no tree deeper than [`MAX_DEPTH`]
//! is built, so the printer and evaluator recurse at most that deep. Pest works without
//! backtracking over a parenthesised group more than once, so parsing is linear. At the
//! limits, compiling takes under 200 KiB of stack in a release build (500 KiB in a debug
//! one); pest itself fails cleanly when less than 64 KiB of stack is left.

use super::ast::{CompareOp, Expr, Literal, TextOp};
use super::check;
use super::error::{FilterError, Span};
use super::scan::{is_blank, scan, token_span};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use std::sync::LazyLock;

/// The longest expression accepted, in bytes. Parsing is linear and nesting is capped
/// separately; this leaves room for long IN lists.
pub const MAX_LEN: usize = 16 * 1024;

/// The deepest nesting accepted: of parentheses in the text, and of nodes in the tree.
pub const MAX_DEPTH: usize = 64;

#[derive(pest_derive::Parser)]
#[grammar = "filter/grammar.pest"]
struct Grammar;

/// Operator precedence, loosest first. Prefix operators (`-`, `+`, NOT) bind tightest of
/// all; the grammar attaches them to their operand.
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_kw, Assoc::Left))
        .op(Op::infix(Rule::and_kw, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::postfix(Rule::is_null))
        .op(Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::postfix(Rule::between)
            | Op::postfix(Rule::in_list)
            | Op::postfix(Rule::text_match))
});

/// Parses and checks a selector.
pub(super) fn parse(input: &str) -> Result<Expr, FilterError> {
    if input.len() > MAX_LEN {
        return Err(FilterError::TooLong {
            len: input.len(),
            max: MAX_LEN,
        });
    }
    if input.bytes().all(is_blank) {
        return Err(FilterError::Empty);
    }
    scan(input)?;
    let selector = Grammar::parse(Rule::selector, input)
        .map_err(|e| syntax_error(input, e))?
        .next()
        .and_then(|selector| selector.into_inner().next())
        .ok_or(FilterError::Empty)?;
    let node = expr(selector)?;
    check::condition(&node.expr, node.span)?;
    Ok(node.expr)
}

fn syntax_error(input: &str, err: pest::error::Error<Rule>) -> FilterError {
    let pos = match err.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((start, _)) => start,
    };
    let span = token_span(input, pos);
    let positives = match err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        // Pest's own guard: "stack limit reached".
        ErrorVariant::CustomError { message } => {
            return FilterError::Unexpected {
                span,
                expected: format!("a shallower expression ({message})"),
            }
        }
    };
    if positives.contains(&Rule::EOI) {
        return FilterError::TrailingInput { span };
    }
    FilterError::Unexpected {
        span,
        expected: describe(&positives),
    }
}

/// "an operator or `)`", from the rules pest would have accepted.
fn describe(rules: &[Rule]) -> String {
    use Rule as R;
    let has = |group: &[Rule]| rules.iter().any(|r| group.contains(r));
    let operand = has(&[R::operand, R::expr, R::minus, R::plus, R::property]);
    let operator = has(&[
        R::eq,
        R::ne,
        R::gt,
        R::ge,
        R::lt,
        R::le,
        R::or_kw,
        R::is_kw,
        R::between,
        R::in_list,
        R::text_match,
    ]);
    let mut names: Vec<&str> = Vec::new();
    if operand {
        names.push("an operand");
    }
    if operator {
        names.push("an operator");
    }
    for rule in rules {
        let name = match rule {
            R::lparen if !operand => "`(`",
            R::rparen => "`)`",
            R::comma => "`,`",
            R::string if !operand => "a string",
            R::not_kw if !operand && !operator => "NOT",
            R::null_kw if !operand => "NULL",
            R::and_kw if !operator => "AND",
            R::between_kw => "BETWEEN",
            R::in_kw => "IN",
            R::contains_kw => "CONTAINS",
            R::startswith_kw => "STARTSWITH",
            R::endswith_kw => "ENDSWITH",
            _ => continue,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.split_last() {
        None => "a different token".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A subtree with its place in the text and its height.
struct Node {
    expr: Expr,
    span: Span,
    depth: usize,
}

impl Node {
    /// A node over children at most `below` deep.
    fn new(expr: Expr, span: Span, below: usize) -> Result<Node, FilterError> {
        let depth = below + 1;
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep {
                span,
                max: MAX_DEPTH,
            });
        }
        Ok(Node { expr, span, depth })
    }

    fn part(&self) -> (&Expr, Span) {
        (&self.expr, self.span)
    }
}

fn span_of(pair: &Pair<Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

/// The parse tree lacks a shape the grammar promises: a bug here, not bad input.
fn misshapen(span: Span) -> FilterError {
    FilterError::Unexpected {
        span,
        expected: "a parse tree the grammar promises (parser bug)".to_owned(),
    }
}

/// An `expr` pair: operands, infix and postfix operators, grouped by precedence.
fn expr(pair: Pair<Rule>) -> Result<Node, FilterError> {
    PRATT
        .map_primary(operand)
        .map_infix(|left, op, right| infix(left?, &op, right?))
        .map_postfix(|left, op| postfix(left?, op))
        .parse(pair.into_inner())
}

/// An `operand` pair: prefix operators, then a primary; applied innermost first.
fn operand(pair: Pair<Rule>) -> Result<Node, FilterError> {
    let whole = span_of(&pair);
    let mut parts = pair
        .into_inner()
        .filter(|part| !matches!(part.as_rule(), Rule::lparen | Rule::rparen))
        .rev();
    let mut node = primary(parts.next().ok_or_else(|| misshapen(whole))?)?;
    for op in parts {
        let span = span_of(&op).to(node.span);
        node = match op.as_rule() {
            Rule::plus => Node { span, ..node },
            Rule::minus => Node::new(Expr::Negate(Box::new(node.expr)), span, node.depth)?,
            Rule::not_kw => {
                check::condition(&node.expr, node.span)?;
                Node::new(Expr::Not(Box::new(node.expr)), span, node.depth)?
            }
            _ => return Err(misshapen(span)),
        };
    }
    Ok(node)
}

fn primary(pair: Pair<Rule>) -> Result<Node, FilterError> {
    let span = span_of(&pair);
    let literal = match pair.as_rule() {
        Rule::expr => return expr(pair),
        Rule::property => return Node::new(Expr::Property(pair.as_str().to_owned()), span, 0),
        Rule::string => Literal::String(string(&pair)),
        Rule::integer => Literal::Integer(integer(pair.as_str(), span)?),
        Rule::float => Literal::Float(float(pair.as_str(), span)?),
        Rule::true_kw => Literal::Bool(true),
        Rule::false_kw => Literal::Bool(false),
        Rule::null_kw => Literal::Null,
        _ => return Err(misshapen(span)),
    };
    Node::new(Expr::Literal(literal), span, 0)
}

/// The text of a `string` pair, `''` read as one quote.
fn string(pair: &Pair<Rule>) -> String {
    let quoted = pair.as_str();
    let body = quoted
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(quoted);
    body.replace("''", "'")
}

/// A decimal integer, `L` suffix dropped; like RocketMQ, at most `Long.MAX_VALUE`.
fn integer(text: &str, span: Span) -> Result<i64, FilterError> {
    text.trim_end_matches(['l', 'L'])
        .parse()
        .map_err(|_| FilterError::BadNumber {
            span,
            expected: "an integer of at most 9223372036854775807",
        })
}

/// A float; RocketMQ refuses one that rounds to infinity or to zero.
fn float(text: &str, span: Span) -> Result<f64, FilterError> {
    let bad = |expected| FilterError::BadNumber { span, expected };
    let value: f64 = text.parse().map_err(|_| bad("a float"))?;
    if value.is_infinite() {
        return Err(bad("a float of at most 1.7976931348623157E308"));
    }
    if value == 0.0 {
        return Err(bad("a float of at least 4.9E-324 (RocketMQ refuses zero)"));
    }
    Ok(value)
}

fn infix(left: Node, op: &Pair<Rule>, right: Node) -> Result<Node, FilterError> {
    let compare = match op.as_rule() {
        Rule::and_kw => return logical(left, right, true),
        Rule::or_kw => return logical(left, right, false),
        Rule::eq => CompareOp::Eq,
        Rule::ne => CompareOp::Ne,
        Rule::gt => CompareOp::Gt,
        Rule::ge => CompareOp::Ge,
        Rule::lt => CompareOp::Lt,
        Rule::le => CompareOp::Le,
        _ => return Err(misshapen(span_of(op))),
    };
    if matches!(compare, CompareOp::Eq | CompareOp::Ne) {
        check::equatable(left.part(), right.part())?;
    } else {
        check::comparable(&left.expr, left.span)?;
        check::comparable(&right.expr, right.span)?;
    }
    let span = left.span.to(right.span);
    let below = left.depth.max(right.depth);
    let expr = Expr::Compare(Box::new(left.expr), compare, Box::new(right.expr));
    Node::new(expr, span, below)
}

/// AND / OR, flattening operands that are the same operator (it is associative, also
/// in RocketMQ's three-valued, short-circuiting evaluation).
fn logical(left: Node, right: Node, and: bool) -> Result<Node, FilterError> {
    check::condition(&left.expr, left.span)?;
    check::condition(&right.expr, right.span)?;
    let span = left.span.to(right.span);
    let mut below = 0;
    let mut items = Vec::new();
    for node in [left, right] {
        match node.expr {
            Expr::And(more) if and => {
                below = below.max(node.depth - 1);
                items.extend(more);
            }
            Expr::Or(more) if !and => {
                below = below.max(node.depth - 1);
                items.extend(more);
            }
            expr => {
                below = below.max(node.depth);
                items.push(expr);
            }
        }
    }
    let expr = if and {
        Expr::And(items)
    } else {
        Expr::Or(items)
    };
    Node::new(expr, span, below)
}

/// IS NULL, BETWEEN, IN and the text tests, applied to `left`.
fn postfix(left: Node, op: Pair<Rule>) -> Result<Node, FilterError> {
    let span = left.span.to(span_of(&op));
    let rule = op.as_rule();
    let (mut negated, mut bounds, mut strings, mut text_op) = (false, Vec::new(), Vec::new(), None);
    for part in op.into_inner() {
        match part.as_rule() {
            Rule::not_kw => negated = true,
            Rule::operand => bounds.push(operand(part)?),
            Rule::string => strings.push(string(&part)),
            Rule::contains_kw => text_op = Some(TextOp::Contains),
            Rule::startswith_kw => text_op = Some(TextOp::StartsWith),
            Rule::endswith_kw => text_op = Some(TextOp::EndsWith),
            _ => {}
        }
    }
    let below = left.depth;
    let operand = Box::new(left.expr);
    let expr = match (rule, text_op) {
        (Rule::is_null, _) => Expr::IsNull { operand, negated },
        (Rule::between, _) => {
            let [low, high]: [Node; 2] = bounds.try_into().map_err(|_| misshapen(span))?;
            if !negated {
                check::bounds(low.part(), high.part())?;
            }
            check::comparable(&operand, left.span)?;
            check::comparable(&low.expr, low.span)?;
            check::comparable(&high.expr, high.span)?;
            let below = below.max(low.depth).max(high.depth);
            let (low, high) = (Box::new(low.expr), Box::new(high.expr));
            let between = Expr::Between {
                operand,
                low,
                high,
                negated,
            };
            return Node::new(between, span, below);
        }
        (Rule::in_list, _) => match *operand {
            Expr::Property(property) => Expr::In {
                property,
                values: strings,
                negated,
            },
            _ => {
                return Err(FilterError::Invalid {
                    span: left.span,
                    expected: "a property before IN",
                })
            }
        },
        (Rule::text_match, Some(op)) => Expr::TextMatch {
            operand,
            op,
            pattern: strings.pop().ok_or_else(|| misshapen(span))?,
            negated,
        },
        _ => return Err(misshapen(span)),
    };
    Node::new(expr, span, below)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_groups_and_joins_names() {
        use Rule as R;
        assert_eq!(describe(&[R::minus, R::string, R::property]), "an operand");
        assert_eq!(
            describe(&[R::eq, R::not_kw, R::rparen]),
            "an operator or `)`"
        );
        assert_eq!(describe(&[R::not_kw, R::null_kw]), "NOT or NULL");
        assert_eq!(describe(&[R::and_kw]), "AND");
        assert_eq!(describe(&[R::lparen]), "`(`");
        assert_eq!(describe(&[]), "a different token");
        let kws = [R::between_kw, R::in_kw, R::contains_kw];
        assert_eq!(describe(&kws), "BETWEEN, IN or CONTAINS");
    }

    #[test]
    fn numbers_follow_rocketmq_limits() {
        let span = Span::new(0, 1);
        assert_eq!(integer("9223372036854775807L", span), Ok(i64::MAX));
        assert!(integer("9223372036854775808", span).is_err());
        assert_eq!(float(".5", span), Ok(0.5));
        assert_eq!(float("5.", span), Ok(5.0));
        assert_eq!(float("5.e1", span), Ok(50.0));
        assert!(float("0.0", span).is_err());
        assert!(float("1e-400", span).is_err());
        assert!(float("1e309", span).is_err());
    }

    #[test]
    fn prefix_operators_bind_tightest() {
        let not_a = Expr::Not(Box::new(Expr::Property("a".into())));
        let one = Expr::Literal(Literal::Integer(1));
        let expected = Expr::Compare(Box::new(not_a), CompareOp::Eq, Box::new(one));
        assert_eq!(parse("NOT a = 1"), Ok(expected));
    }

    #[test]
    fn and_or_chains_are_flat_whatever_the_parentheses() {
        let Ok(Expr::And(items)) = parse("(a AND b) AND (c AND (d AND e))") else {
            panic!("not an AND");
        };
        assert_eq!(items.len(), 5);
        let Ok(Expr::Or(items)) = parse("a OR b AND c OR d") else {
            panic!("not an OR");
        };
        assert!(matches!(items[1], Expr::And(_)));
    }
}
