//! A cheap pass over the text before pest sees it, reading strings and comments as the
//! lexer will: it finds unterminated strings and block comments, and refuses parentheses
//! nested deeper than [`MAX_DEPTH`] (pest recurses once per parenthesis, so this bounds
//! its stack). Also the span of the token at an error position.

use super::error::{FilterError, Span};
use super::parser::MAX_DEPTH;

/// The blanks RocketMQ's lexer skips.
pub(super) fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0C)
}

pub(super) fn scan(input: &str) -> Result<(), FilterError> {
    let bytes = input.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                i = string_end(input, i).ok_or(FilterError::UnterminatedString {
                    span: Span::new(i, input.len()),
                })?;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = input[i + 2..]
                    .find("*/")
                    .ok_or(FilterError::UnterminatedComment {
                        span: Span::new(i, input.len()),
                    })?;
                i += 2 + close + 2;
                continue;
            }
            // A line comment only if a line break follows; otherwise two minus signs.
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                if let Some(eol) = input[i + 2..].find(['\n', '\r']) {
                    i += 2 + eol;
                    continue;
                }
            }
            b'(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(FilterError::TooDeep {
                        span: Span::new(i, i + 1),
                        max: MAX_DEPTH,
                    });
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The end of the string literal that opens at `start`, or `None` if it never closes.
fn string_end(input: &str, start: usize) -> Option<usize> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    loop {
        let quote = i + input.get(i..)?.find('\'')?;
        if bytes.get(quote + 1) == Some(&b'\'') {
            i = quote + 2;
        } else {
            return Some(quote + 1);
        }
    }
}

/// The span of the token at `pos`: a run of identifier characters, or one character.
pub(super) fn token_span(input: &str, pos: usize) -> Span {
    let rest = input.get(pos..).unwrap_or("");
    let ident = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$'))
        .count();
    let len = match ident {
        0 => rest.chars().next().map_or(0, char::len_utf8),
        n => n,
    };
    Span::new(pos, pos + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_strings_and_comments() {
        let parens = "(".repeat(MAX_DEPTH + 1);
        assert!(scan(&format!("'{parens}'")).is_ok());
        assert!(scan(&format!("/* {parens} */")).is_ok());
        assert!(scan(&format!("-- {parens}\n")).is_ok());
        // No line break: not a comment.
        assert!(matches!(
            scan(&format!("-- {parens}")),
            Err(FilterError::TooDeep { .. })
        ));
    }

    #[test]
    fn counts_nesting_not_parentheses() {
        let flat = "(a) AND ".repeat(MAX_DEPTH + 1);
        assert!(scan(&flat).is_ok());
        let deep = "(".repeat(MAX_DEPTH + 1);
        assert_eq!(
            scan(&deep),
            Err(FilterError::TooDeep {
                span: Span::new(MAX_DEPTH, MAX_DEPTH + 1),
                max: MAX_DEPTH
            })
        );
    }

    #[test]
    fn finds_unterminated_strings_and_comments() {
        assert_eq!(
            scan("a = 'x'' AND b"),
            Err(FilterError::UnterminatedString {
                span: Span::new(4, 14)
            })
        );
        assert_eq!(
            scan("a /* b"),
            Err(FilterError::UnterminatedComment {
                span: Span::new(2, 6)
            })
        );
        // A quote inside a comment starts no string, and the reverse.
        assert!(scan("/* ' */ a = '/*'").is_ok());
    }

    #[test]
    fn string_end_reads_doubled_quotes() {
        assert_eq!(string_end("'a''b' x", 0), Some(6));
        assert_eq!(string_end("'a''", 0), None);
        assert_eq!(string_end("''", 0), Some(2));
    }

    #[test]
    fn token_span_covers_a_word_or_one_character() {
        assert_eq!(token_span("a = bcd e", 4), Span::new(4, 7));
        assert_eq!(token_span("a = é", 4), Span::new(4, 6));
        assert_eq!(token_span("a", 1), Span::new(1, 1));
    }
}
