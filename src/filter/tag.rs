//! Tag expressions: `*` (or nothing) for every message, else tags joined by `||`.
//!
//! Built as Java's `FilterAPI.buildSubscriptionData` builds them: exactly `*` or the empty
//! string means all; anything else is split on `||`, each piece trimmed of characters up
//! to U+0020 (Java's `String.trim`, so `" * "` is the tag `*`), empty pieces dropped. An
//! expression made of separators only (`||`, `||||`) is an error in Java, while `" || "`
//! yields no tag at all, which matches nothing. The broker compares tag *hash codes*
//! (the consume queue stores a message's tag as `String.hashCode`); the client then
//! compares the tag strings.

use super::error::{FilterError, Span};

/// Java's `String.hashCode` of a tag: `h = 31·h + c` over UTF-16 code units, wrapping.
pub fn tag_hash(tag: &str) -> i32 {
    crate::protocol::message::java_hash(tag)
}

/// A compiled tag expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    /// `None` for all messages.
    only: Option<Tags>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Tags {
    /// Sorted, no duplicates.
    names: Box<[Box<str>]>,
    /// The names' hash codes, sorted, no duplicates.
    codes: Box<[i32]>,
}

impl TagFilter {
    /// The filter that lets every message through.
    pub const ALL: TagFilter = TagFilter { only: None };

    pub fn parse(expression: &str) -> Result<TagFilter, FilterError> {
        if expression.is_empty() || expression == "*" {
            return Ok(TagFilter::ALL);
        }
        if expression.split("||").all(str::is_empty) {
            return Err(FilterError::NoTags {
                span: Span::new(0, expression.len()),
            });
        }
        let mut names: Vec<Box<str>> = expression
            .split("||")
            .map(|piece| piece.trim_matches(|c: char| c <= ' '))
            .filter(|tag| !tag.is_empty())
            .map(Box::from)
            .collect();
        names.sort();
        names.dedup();
        let mut codes: Vec<i32> = names.iter().map(|name| tag_hash(name)).collect();
        codes.sort_unstable();
        codes.dedup();
        Ok(TagFilter {
            only: Some(Tags {
                names: names.into(),
                codes: codes.into(),
            }),
        })
    }

    /// Whether this is `*`: every message matches, tagged or not.
    pub fn is_all(&self) -> bool {
        self.only.is_none()
    }

    /// The broker's test against the tag code a consume-queue entry stores; only its low
    /// 32 bits count (Java's `tagsCode.intValue()`).
    pub fn matches_code(&self, tags_code: i64) -> bool {
        match &self.only {
            None => true,
            // Truncation on purpose: the code of a tag is an i32 widened to i64.
            Some(tags) => tags.codes.binary_search(&(tags_code as i32)).is_ok(),
        }
    }

    /// The client's test against a message's tag string: exact match.
    pub fn matches_tag(&self, tag: &str) -> bool {
        match &self.only {
            None => true,
            Some(tags) => tags
                .names
                .binary_search_by(|name| (**name).cmp(tag))
                .is_ok(),
        }
    }

    /// The tags, sorted (none for `*`): a subscription's `tagsSet`.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.only
            .iter()
            .flat_map(|tags| tags.names.iter().map(|name| &**name))
    }

    /// Their hash codes, sorted (none for `*`): a subscription's `codeSet`.
    pub fn codes(&self) -> &[i32] {
        self.only.as_ref().map_or(&[], |tags| &tags.codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Java's algorithm written out over `char`s, splitting astral ones by hand.
    fn java_hash(s: &str) -> i32 {
        let mut h = 0i32;
        for c in s.chars() {
            let units: Vec<u16> = match u32::from(c) {
                cp @ 0x10000.. => {
                    let v = cp - 0x10000;
                    vec![0xD800 + (v >> 10) as u16, 0xDC00 + (v & 0x3FF) as u16]
                }
                cp => vec![cp as u16],
            };
            for unit in units {
                h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
            }
        }
        h
    }

    #[test]
    fn hash_matches_known_java_values() {
        // From OpenJDK 17 `String.hashCode`.
        assert_eq!(tag_hash("TagA"), 2598919);
        assert_eq!(tag_hash(""), 0);
        assert_eq!(tag_hash("*"), 42);
        assert_eq!(tag_hash("é"), 233);
        assert_eq!(tag_hash("标签"), 857175);
        assert_eq!(tag_hash("😀"), 1772899);
        assert_eq!(tag_hash("TagA😀TagB"), JAVA_MIXED);
        assert_eq!(tag_hash("polygenelubricants"), i32::MIN);
    }

    /// `"TagA😀TagB".hashCode()` under OpenJDK 17.
    const JAVA_MIXED: i32 = -948_137_294;

    proptest! {
        #[test]
        fn hash_is_javas_over_utf16(s in "\\PC{0,24}") {
            prop_assert_eq!(tag_hash(&s), java_hash(&s));
        }
    }

    #[test]
    fn star_and_empty_match_everything() {
        for all in ["", "*"] {
            let f = TagFilter::parse(all).unwrap();
            assert!(f.is_all());
            assert!(f.matches_code(12345) && f.matches_tag("anything"));
        }
    }

    #[test]
    fn tags_are_split_trimmed_and_deduplicated() {
        let f = TagFilter::parse(" TagA ||TagB||\t||TagA").unwrap();
        assert_eq!(f.tags().collect::<Vec<_>>(), ["TagA", "TagB"]);
        assert_eq!(f.codes(), [tag_hash("TagA"), tag_hash("TagB")]);
        assert!(f.matches_tag("TagB") && !f.matches_tag("TagC") && !f.matches_tag(" TagA"));
        assert!(f.matches_code(i64::from(tag_hash("TagA"))));
        assert!(!f.matches_code(i64::from(tag_hash("TagC"))));
    }

    #[test]
    fn only_the_low_32_bits_of_a_code_count() {
        let f = TagFilter::parse("TagA").unwrap();
        assert!(f.matches_code(i64::from(tag_hash("TagA")) + (7 << 32)));
    }

    #[test]
    fn trimming_is_javas_not_unicodes() {
        let f = TagFilter::parse("\u{1}a\u{1f}|| b\u{a0}").unwrap();
        assert_eq!(f.tags().collect::<Vec<_>>(), ["a", "b\u{a0}"]);
        // A star among blanks is a tag, not "all".
        let f = TagFilter::parse(" * ").unwrap();
        assert!(!f.is_all() && f.matches_tag("*") && !f.matches_tag("x"));
    }

    #[test]
    fn separators_alone_are_an_error_and_blanks_match_nothing() {
        assert_eq!(
            TagFilter::parse("||||"),
            Err(FilterError::NoTags {
                span: Span::new(0, 4)
            })
        );
        let f = TagFilter::parse(" || ").unwrap();
        assert!(!f.is_all() && !f.matches_code(0) && !f.matches_tag(""));
        // `|||` leaves the tag `|`.
        assert_eq!(
            TagFilter::parse("|||").unwrap().tags().collect::<Vec<_>>(),
            ["|"]
        );
    }
}
