//! Java's `Integer.valueOf`, `Long.valueOf`, `Double.valueOf` and `Boolean.valueOf` on
//! property text, which RocketMQ applies when it compares a property with a constant.
//! None of them allocates.

use super::value::Thrown;

/// `Integer.valueOf(s)`: optional sign, decimal digits, in range, nothing else.
///
/// Java also takes non-ASCII decimal digits (`Character.digit`, which depends on the JVM's
/// Unicode version); only ASCII digits are read here.
pub(super) fn parse_int(s: &str) -> Result<i32, Thrown> {
    s.parse().map_err(|_| Thrown)
}

/// `Long.valueOf(s)`; see [`parse_int`].
pub(super) fn parse_long(s: &str) -> Result<i64, Thrown> {
    s.parse().map_err(|_| Thrown)
}

/// `Boolean.valueOf(s)`: true for `true` in any letter case, false for anything else.
pub(super) fn parse_boolean(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// `Double.valueOf(s)`: surrounding characters up to U+0020 ignored; an optional sign;
/// then `NaN`, `Infinity`, a decimal (`1`, `1.`, `.5`, `1e-3`) or a hexadecimal
/// (`0x1.8p3`) float, each but the first two with an optional `f`/`F`/`d`/`D` suffix.
pub(super) fn parse_double(s: &str) -> Result<f64, Thrown> {
    let s = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = match body {
        // Java answers NaN whatever the sign.
        "NaN" => return Ok(f64::NAN),
        "Infinity" => f64::INFINITY,
        _ => match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            Some(hex) => parse_hex(hex)?,
            None => parse_decimal(body)?,
        },
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// Digits with at most one point (at least one digit), an optional exponent, an optional
/// suffix. The value itself is read by Rust's correctly rounded parser, as Java's is.
fn parse_decimal(body: &str) -> Result<f64, Thrown> {
    let b = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    let mut point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' if !point => point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(Thrown);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(Thrown);
        }
    }
    if !matches!(&b[i..], [] | [b'f' | b'F' | b'd' | b'D']) {
        return Err(Thrown);
    }
    body[..i].parse().map_err(|_| Thrown)
}

/// The part after `0x`: hex digits with at most one point (at least one digit), then a
/// binary exponent `p±digits` (required), then an optional suffix. Rounds to nearest even.
fn parse_hex(rest: &str) -> Result<f64, Thrown> {
    let b = rest.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    let mut point = false;
    // The first 16 significant hex digits; whether any later one is non-zero; and the
    // power of two that scales `mantissa` to the written value.
    let mut mantissa = 0u64;
    let mut kept = 0;
    let mut sticky = false;
    let mut scale = 0i64;
    while let Some(&c) = b.get(i) {
        if c == b'.' && !point {
            point = true;
        } else if let Some(d) = char::from(c).to_digit(16) {
            digits += 1;
            if mantissa == 0 && d == 0 {
                scale -= if point { 4 } else { 0 };
            } else if kept < 16 {
                mantissa = mantissa << 4 | u64::from(d);
                kept += 1;
                scale -= if point { 4 } else { 0 };
            } else {
                sticky |= d != 0;
                scale += if point { 0 } else { 4 };
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 || !matches!(b.get(i), Some(b'p' | b'P')) {
        return Err(Thrown);
    }
    i += 1;
    let exp_negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == start || !matches!(&b[i..], [] | [b'f' | b'F' | b'd' | b'D']) {
        return Err(Thrown);
    }
    if mantissa == 0 {
        return Ok(0.0);
    }
    // An exponent past i32 (Java parses it as an int) means infinity or zero.
    let Ok(exp) = rest[start..i].parse::<i32>() else {
        return Ok(if exp_negative { 0.0 } else { f64::INFINITY });
    };
    let exp = if exp_negative {
        -i64::from(exp)
    } else {
        i64::from(exp)
    };
    Ok(round_to_f64(mantissa, sticky, scale + exp))
}

/// `(mantissa + something below its last bit if sticky) · 2^exp2`, rounded to the nearest
/// f64, ties to even, subnormals included. `mantissa` is not zero.
fn round_to_f64(mantissa: u64, sticky: bool, exp2: i64) -> f64 {
    let shift_up = mantissa.leading_zeros();
    let m = mantissa << shift_up;
    // The value lies in [2^e, 2^(e+1)).
    let e = exp2 - i64::from(shift_up) + 63;
    if e > 1023 {
        return f64::INFINITY;
    }
    // Significant bits the result can hold: 53, fewer for subnormals.
    let keep = if e >= -1022 { 53 } else { 53 - (-1022 - e) };
    if keep < 0 {
        return 0.0; // below half the smallest subnormal
    }
    let drop = 64 - keep as u32; // 11..=64
    let wide = u128::from(m);
    let mut q = (wide >> drop) as u64;
    let rest = wide & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    if rest > half || (rest == half && (sticky || q & 1 == 1)) {
        q += 1;
    }
    if e < -1022 {
        // Subnormal: q · 2^-1074; a carry to 2^52 is the smallest normal, same bits.
        return f64::from_bits(q);
    }
    let (q, e) = if q == 1 << 53 {
        (1 << 52, e + 1)
    } else {
        (q, e)
    };
    if e > 1023 {
        return f64::INFINITY;
    }
    f64::from_bits(((e + 1023) as u64) << 52 | (q & ((1 << 52) - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<f64> {
        parse_double(s).ok()
    }

    #[test]
    fn integers_take_a_sign_and_ascii_digits_only() {
        assert_eq!(parse_int("+5"), Ok(5));
        assert_eq!(parse_int("-007"), Ok(-7));
        assert_eq!(parse_int("2147483648"), Err(Thrown));
        assert_eq!(parse_long("2147483648"), Ok(2_147_483_648));
        for bad in ["", "+", "-", " 5", "5 ", "5.0", "1e3", "0x10", "５"] {
            assert_eq!(parse_int(bad), Err(Thrown), "{bad:?}");
        }
    }

    #[test]
    fn booleans_are_true_in_any_case() {
        assert!(parse_boolean("TrUe"));
        assert!(!parse_boolean("yes"));
        assert!(!parse_boolean(" true"));
    }

    #[test]
    fn decimals_follow_java_grammar() {
        assert_eq!(d(" \t1.5\u{1} "), Some(1.5));
        assert_eq!(d("1."), Some(1.0));
        assert_eq!(d(".5"), Some(0.5));
        assert_eq!(d("-.5e1"), Some(-5.0));
        assert_eq!(d("+1E+2"), Some(100.0));
        assert_eq!(d("5.e1"), Some(50.0));
        assert_eq!(d("1e5f"), Some(1e5));
        assert_eq!(d("2D"), Some(2.0));
        assert_eq!(d("1e999"), Some(f64::INFINITY));
        assert_eq!(d("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(d("NaN").is_some_and(f64::is_nan));
        assert!(d("-NaN").is_some_and(|x| x.is_nan() && x.is_sign_positive()));
        for bad in [
            "",
            " ",
            ".",
            "+",
            "e5",
            "1e",
            "1e+",
            "1..2",
            "1.2.3",
            "1ff",
            "inf",
            "infinity",
            "nan",
            "Infinityf",
            "1_000",
            "1 000",
            "\u{a0}1",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_floats_round_like_java() {
        assert_eq!(d("0x1p3"), Some(8.0));
        assert_eq!(d("-0X1.8P1d"), Some(-3.0));
        assert_eq!(d("0x.8p1"), Some(1.0));
        assert_eq!(d("0x0.0p0"), Some(0.0));
        assert_eq!(d("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(d("0x1.fffffffffffffp1023"), Some(f64::MAX));
        // Ties go to even; anything past the tie goes up.
        assert_eq!(d("0x1.00000000000008p0"), Some(1.0));
        assert_eq!(d("0x1.00000000000018p0"), Some(1.0 + 2f64.powi(-51)));
        assert_eq!(d("0x1.000000000000080001p0"), Some(1.0 + 2f64.powi(-52)));
        assert_eq!(d("0x1.fffffffffffff8p1023"), Some(f64::INFINITY));
        assert_eq!(d("0x1p-1075"), Some(0.0));
        assert_eq!(d("0x1.1p-1075"), Some(f64::from_bits(1)));
        assert_eq!(d("0x1.8p-1074"), Some(f64::from_bits(2)));
        assert_eq!(d("0x1p99999999999"), Some(f64::INFINITY));
        assert_eq!(d("0x1p-99999999999"), Some(0.0));
        for bad in [
            "0x",
            "0x1",
            "0x.p1",
            "0x1p",
            "0x1p+",
            "0xgp1",
            "0x1p1x",
            "0x1.2.3p1",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }
}
