//! Spark's string functions computed row by row: `instr` with a start and an occurrence,
//! `levenshtein` with a threshold, `regexp_extract`, `regexp_extract_all`, `regexp_substr`,
//! `sentences`, `jaro_winkler_similarity`, `conv`, `collation`; and the constants and
//! small math functions `e` and `log1p`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::returns::{binary, boolean, double, int, string, strings};
use super::row::{RowContext, RowFunction, arity, integer, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("instr", instr_types, int, instr)
            .simplify(|args, _| columnar_two(args, datafusion::functions::unicode::strpos()))
            .udf(),
        RowFunction::new("levenshtein", levenshtein_types, int, levenshtein)
            .simplify(|args, _| columnar_two(args, datafusion::functions::string::levenshtein()))
            .udf(),
        RowFunction::new("regexp_extract", extract_types, string, regexp_extract).udf(),
        like_pattern_udf(),
        reverse_binary_udf(),
        binary_match_udf(),
        RowFunction::new(
            "regexp_extract_all",
            extract_types,
            strings,
            regexp_extract_all,
        )
        .udf(),
        RowFunction::new("regexp_substr", two_texts, string, regexp_substr).udf(),
        RowFunction::new("sentences", sentences_types, sentences_type, sentences).udf(),
        RowFunction::new("jaro_winkler_similarity", two_texts, double, jaro_winkler).udf(),
        RowFunction::new("conv", conv_types, string, conv).udf(),
        RowFunction::new("collation", one_text, string, collation).udf(),
        RowFunction::new("e", no_args, double, |_, _| {
            Ok(ScalarValue::Float64(Some(std::f64::consts::E)))
        })
        .udf(),
        RowFunction::new("log1p", one_double, double, |args, _| match &args[0] {
            ScalarValue::Float64(Some(v)) if *v > -1.0 => Ok(ScalarValue::Float64(Some(v.ln_1p()))),
            _ => Ok(ScalarValue::Float64(None)),
        })
        .udf(),
    ]
}

fn sentences_type(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(Field::new_list_field(
        strings(&[])?,
        true,
    ))))
}

fn no_args(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("e", types, 0, 0)?;
    Ok(vec![])
}

fn one_double(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("log1p", types, 1, 1)?;
    Ok(vec![DataType::Float64])
}

fn one_text(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("collation", types, 1, 1)?;
    Ok(vec![DataType::Utf8])
}

fn two_texts(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("regexp_substr", types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

/// The function the analyzer wraps a `LIKE` pattern in when its escape character is not the
/// backslash (DataFusion's `LIKE` knows only the backslash).
pub(crate) const LIKE_PATTERN: &str = "flint_like_pattern";

/// `flint_reverse_binary(bytes)`: Spark's `reverse` of a binary, its bytes in reverse order.
pub(crate) fn reverse_binary_udf() -> Arc<ScalarUDF> {
    RowFunction::new(
        "flint_reverse_binary",
        |types| {
            arity("reverse", types, 1, 1)?;
            Ok(vec![DataType::Binary])
        },
        binary,
        |args, _| {
            Ok(ScalarValue::Binary(match &args[0] {
                ScalarValue::Binary(Some(bytes)) => Some(bytes.iter().rev().copied().collect()),
                _ => None,
            }))
        },
    )
    .udf()
}

/// `flint_binary_match(kind, bytes, part)`: Spark's `startswith`, `endswith` or `contains`
/// (the `kind`, DataFusion's name) of two binaries.
pub(crate) fn binary_match_udf() -> Arc<ScalarUDF> {
    RowFunction::new(
        "flint_binary_match",
        |types| {
            arity("flint_binary_match", types, 3, 3)?;
            Ok(vec![DataType::Utf8, DataType::Binary, DataType::Binary])
        },
        boolean,
        |args, _| {
            let (Some(kind), ScalarValue::Binary(Some(bytes)), ScalarValue::Binary(Some(part))) =
                (text(&args[0]), &args[1], &args[2])
            else {
                return Ok(ScalarValue::Boolean(None));
            };
            let found = match kind {
                "starts_with" => bytes.starts_with(part),
                "ends_with" => bytes.ends_with(part),
                _ => part.is_empty() || bytes.windows(part.len()).any(|w| w == part.as_slice()),
            };
            Ok(ScalarValue::Boolean(Some(found)))
        },
    )
    .udf()
}

/// `flint_like_pattern(pattern, escape)`: the pattern with backslash escapes.
pub(crate) fn like_pattern_udf() -> Arc<ScalarUDF> {
    RowFunction::new(LIKE_PATTERN, like_pattern_types, string, like_pattern).udf()
}

fn like_pattern_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity(LIKE_PATTERN, types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

/// A `LIKE` pattern escaped with `escape` written with backslash escapes instead.
pub(crate) fn backslash_pattern(pattern: &str, escape: char) -> Result<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => {
                    return exec_err!(
                        "[INVALID_FORMAT.ESC_AT_THE_END] The format is invalid: '{pattern}'. \
                         The escape character is not allowed to end with. SQLSTATE: 42601"
                    );
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn like_pattern(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(pattern), Some(escape)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let mut escapes = escape.chars();
    let (Some(escape), None) = (escapes.next(), escapes.next()) else {
        return exec_err!("the escape character of LIKE must be one character, not '{escape}'");
    };
    Ok(ScalarValue::Utf8(Some(backslash_pattern(pattern, escape)?)))
}

fn instr_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("instr", types, 2, 4)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    out.resize(types.len(), DataType::Int32);
    Ok(out)
}

fn levenshtein_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("levenshtein", types, 2, 3)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    out.resize(types.len(), DataType::Int32);
    Ok(out)
}

fn extract_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("regexp_extract", types, 2, 3)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    out.resize(types.len(), DataType::Int32);
    Ok(out)
}

fn sentences_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("sentences", types, 1, 3)?;
    Ok(vec![DataType::Utf8; types.len()])
}

fn conv_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("conv", types, 3, 3)?;
    Ok(vec![DataType::Utf8, DataType::Int32, DataType::Int32])
}

/// The two-argument form of `instr`/`levenshtein` is DataFusion's columnar `strpos`/
/// `levenshtein` (as an `int`); the longer forms stay Flint's.
fn columnar_two(
    args: Vec<datafusion::logical_expr::Expr>,
    udf: Arc<ScalarUDF>,
) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
    use datafusion::logical_expr::simplify::ExprSimplifyResult;
    use datafusion::logical_expr::{Cast, Expr, expr::ScalarFunction};
    if args.len() != 2 {
        return Ok(ExprSimplifyResult::Original(args));
    }
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(udf, args));
    Ok(ExprSimplifyResult::Simplified(Expr::Cast(Cast::new(
        Box::new(call),
        DataType::Int32,
    ))))
}

/// `instr(str, substr[, position[, occurrence]])`: the 1-based position of the
/// `occurrence`-th match at or after `position`; a negative position counts from the end
/// and searches backwards. 0 when not found.
fn instr(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(haystack), Some(needle)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Int32(None));
    };
    let position = args.get(2).and_then(integer).unwrap_or(1);
    let occurrence = args.get(3).and_then(integer).unwrap_or(1);
    if position == 0 {
        return exec_err!(
            "[INVALID_PARAMETER_VALUE.ZERO_INDEX] The value of parameter(s) `position` in \
             `instr` is invalid: expects a non-zero index."
        );
    }
    if occurrence < 1 {
        return exec_err!(
            "[INVALID_PARAMETER_VALUE] The value of parameter(s) `occurrence` in `instr` is \
             invalid: expects a positive integer, got {occurrence}."
        );
    }
    let chars: Vec<char> = haystack.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    let matches_at = |i: usize| chars.get(i..i + needle.len()) == Some(&needle[..]);
    let len = chars.len() as i64;
    let mut seen = 0;
    let found = if position > 0 {
        (position - 1..=len - needle.len() as i64)
            .filter(|i| *i >= 0)
            .find(|i| {
                let hit = matches_at(*i as usize);
                seen += i64::from(hit);
                hit && seen == occurrence
            })
    } else {
        let start = len + position;
        (0..=start.min(len - needle.len() as i64)).rev().find(|i| {
            let hit = matches_at(*i as usize);
            seen += i64::from(hit);
            hit && seen == occurrence
        })
    };
    Ok(ScalarValue::Int32(Some(found.map_or(0, |i| i as i32 + 1))))
}

/// The Levenshtein distance between two strings (counted in characters), or -1 when it is
/// above the optional threshold.
fn levenshtein(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(a), Some(b)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Int32(None));
    };
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    let distance = previous[b.len()] as i64;
    Ok(ScalarValue::Int32(Some(
        match args.get(2).and_then(integer) {
            Some(threshold) if distance > threshold => -1,
            _ => distance as i32,
        },
    )))
}

/// The compiled `pattern`; the last few patterns of this thread are kept, so a column
/// matched against one literal pattern compiles it once per thread.
fn regex(pattern: &str, function: &str) -> Result<regex::Regex> {
    thread_local! {
        static COMPILED: std::cell::RefCell<Vec<(String, regex::Regex)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    if let Some(found) = COMPILED.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, r)| r.clone())
    }) {
        return Ok(found);
    }
    let compiled = regex::Regex::new(pattern).map_err(|e| {
        DataFusionError::Execution(format!(
            "[INVALID_PARAMETER_VALUE.PATTERN] The value of parameter(s) `regexp` in \
             `{function}` is invalid: {e}"
        ))
    })?;
    COMPILED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((pattern.to_string(), compiled.clone()));
    });
    Ok(compiled)
}

/// The group index of a `regexp_extract` call, checked against the pattern's groups.
fn group_index(args: &[ScalarValue], regex: &regex::Regex, function: &str) -> Result<usize> {
    let index = args.get(2).and_then(integer).unwrap_or(1);
    let groups = regex.captures_len() as i64 - 1;
    if index < 0 || index > groups {
        return exec_err!(
            "[INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX] The value of parameter(s) `idx` in \
             `{function}` is invalid: Expects group index between 0 and {groups}, but got \
             {index}."
        );
    }
    Ok(index as usize)
}

/// The `idx`-th group of the first match of `regexp` in `str`; `""` when nothing matches.
fn regexp_extract(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(pattern)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let regex = regex(pattern, "regexp_extract")?;
    let index = group_index(args, &regex, "regexp_extract")?;
    let found = regex
        .captures(value)
        .map(|c| c.get(index).map_or("", |m| m.as_str()).to_string());
    Ok(ScalarValue::Utf8(Some(found.unwrap_or_default())))
}

/// The `idx`-th group of every match of `regexp` in `str`.
fn regexp_extract_all(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(pattern)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let regex = regex(pattern, "regexp_extract_all")?;
    let index = group_index(args, &regex, "regexp_extract_all")?;
    let found: Vec<ScalarValue> = regex
        .captures_iter(value)
        .map(|c| ScalarValue::Utf8(Some(c.get(index).map_or("", |m| m.as_str()).to_string())))
        .collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &found,
        &DataType::Utf8,
    )))
}

/// The first match of `regexp` in `str`, NULL when none.
fn regexp_substr(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(pattern)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let regex = regex(pattern, "regexp_substr")?;
    Ok(ScalarValue::Utf8(
        regex.find(value).map(|m| m.as_str().to_string()),
    ))
}

/// `sentences(str[, lang, country])`: sentences (ended by `.`, `!` or `?`) as arrays of
/// their words (runs of letters, digits and apostrophes; punctuation dropped), as Java's
/// sentence and word `BreakIterator`s split English text.
fn sentences(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(value) = text(&args[0]) else {
        return Ok(ScalarValue::Null);
    };
    let mut result = Vec::new();
    let mut words: Vec<ScalarValue> = Vec::new();
    let mut word = String::new();
    let finish_word = |word: &mut String, words: &mut Vec<ScalarValue>| {
        if !word.is_empty() {
            words.push(ScalarValue::Utf8(Some(std::mem::take(word))));
        }
    };
    for c in value.chars() {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
            continue;
        }
        finish_word(&mut word, &mut words);
        if matches!(c, '.' | '!' | '?') && !words.is_empty() {
            let sentence = std::mem::take(&mut words);
            result.push(ScalarValue::List(ScalarValue::new_list_nullable(
                &sentence,
                &DataType::Utf8,
            )));
        }
    }
    finish_word(&mut word, &mut words);
    if !words.is_empty() {
        result.push(ScalarValue::List(ScalarValue::new_list_nullable(
            &words,
            &DataType::Utf8,
        )));
    }
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &result,
        &strings(&[])?,
    )))
}

/// The Jaro-Winkler similarity of two strings (prefix scale 0.1, prefix of up to 4).
fn jaro_winkler(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(a), Some(b)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Float64(None));
    };
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return Ok(ScalarValue::Float64(Some(1.0)));
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut b_used = vec![false; b.len()];
    let mut a_matches = Vec::new();
    for (i, ca) in a.iter().enumerate() {
        let low = i.saturating_sub(window);
        let high = (i + window + 1).min(b.len());
        if let Some(j) = (low..high).find(|j| !b_used[*j] && b[*j] == *ca) {
            b_used[j] = true;
            a_matches.push(*ca);
        }
    }
    let m = a_matches.len() as f64;
    if m == 0.0 {
        return Ok(ScalarValue::Float64(Some(0.0)));
    }
    let b_matches = b
        .iter()
        .zip(&b_used)
        .filter(|(_, used)| **used)
        .map(|(c, _)| *c);
    let transpositions = a_matches
        .iter()
        .zip(b_matches)
        .filter(|(x, y)| **x != *y)
        .count() as f64
        / 2.0;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - transpositions) / m) / 3.0;
    let prefix = a.iter().zip(&b).take(4).take_while(|(x, y)| x == y).count() as f64;
    Ok(ScalarValue::Float64(Some(
        jaro + prefix * 0.1 * (1.0 - jaro),
    )))
}

/// `conv(num, from_base, to_base)`: the number read in `from_base` (up to the first digit
/// that is not one) as an unsigned 64-bit value, written in `to_base`; a negative `to_base`
/// writes it signed.
fn conv(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(value), Some(from), Some(to)) =
        (text(&args[0]), integer(&args[1]), integer(&args[2]))
    else {
        return Ok(ScalarValue::Utf8(None));
    };
    let valid = |base: i64| (2..=36).contains(&base.abs());
    if !valid(from) || from < 0 || !valid(to) {
        return Ok(ScalarValue::Utf8(None));
    }
    let value = value.trim();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let mut number: u64 = 0;
    let mut any = false;
    for c in digits.chars() {
        let Some(digit) = c.to_digit(from as u32) else {
            break;
        };
        any = true;
        number = number
            .checked_mul(from as u64)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .unwrap_or(u64::MAX);
    }
    if !any {
        return Ok(ScalarValue::Utf8(None));
    }
    if negative {
        number = number.wrapping_neg();
    }
    let (sign, magnitude) = if to < 0 && (number as i64) < 0 {
        ("-", (number as i64).unsigned_abs())
    } else {
        ("", number)
    };
    let base = to.unsigned_abs();
    let mut out = Vec::new();
    let mut rest = magnitude;
    loop {
        let digit = (rest % base) as u32;
        out.push(
            std::char::from_digit(digit, base as u32)
                .unwrap_or('0')
                .to_ascii_uppercase(),
        );
        rest /= base;
        if rest == 0 {
            break;
        }
    }
    let digits: String = out.into_iter().rev().collect();
    Ok(ScalarValue::Utf8(Some(format!("{sign}{digits}"))))
}

/// Every string has Spark's default collation.
fn collation(_: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(Some("SYSTEM.BUILTIN.UTF8_BINARY".into())))
}

/// `ceil(x, scale)` / `floor(x, scale)` (written `spark_ceil`/`spark_floor` by the parser):
/// `x` rounded up or down to `scale` digits after the point (negative: before it), a
/// decimal.
pub(super) fn rounding_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("spark_ceil", scale_types, scale_type, |a, c| {
            round_to(a, c, true)
        })
        .returns_from_literals(scale_type_of)
        .udf(),
        RowFunction::new("spark_floor", scale_types, scale_type, |a, c| {
            round_to(a, c, false)
        })
        .returns_from_literals(scale_type_of)
        .udf(),
    ]
}

fn scale_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("ceil", types, 2, 2)?;
    let value = match &types[0] {
        DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => DataType::Decimal128(10, 0),
        DataType::Int64 => DataType::Decimal128(20, 0),
        _ => DataType::Decimal128(30, 15),
    };
    Ok(vec![value, DataType::Int32])
}

fn scale_type(types: &[DataType]) -> Result<DataType> {
    scale_type_of(types, &[])
}

/// `decimal(p - s + 1 + max(scale, 0), max(scale, 0))` for a `decimal(p, s)` value.
fn scale_type_of(types: &[DataType], literals: &[Option<&ScalarValue>]) -> Result<DataType> {
    let (p, s) = match types.first() {
        Some(DataType::Decimal128(p, s)) => (i64::from(*p), i64::from(*s)),
        _ => (30, 15),
    };
    let target = literals
        .get(1)
        .copied()
        .flatten()
        .and_then(integer)
        .unwrap_or(0)
        .clamp(-38, 38);
    let scale = target.max(0).min(s.max(0));
    let precision = (p - s + 1 + scale).clamp(1, 38);
    Ok(DataType::Decimal128(precision as u8, scale as i8))
}

fn round_to(args: &[ScalarValue], context: &RowContext, up: bool) -> Result<ScalarValue> {
    let (ScalarValue::Decimal128(Some(value), _, scale), Some(target)) =
        (&args[0], integer(&args[1]))
    else {
        return ScalarValue::try_from(context.return_type);
    };
    let DataType::Decimal128(precision, result_scale) = *context.return_type else {
        return exec_err!("ceil: unexpected result type {}", context.return_type);
    };
    let scale = i64::from(*scale);
    let target = target.clamp(-38, 38);
    let rounded = if target >= scale {
        *value
    } else {
        let divisor = 10i128.pow((scale - target) as u32);
        let (quotient, remainder) = (value / divisor, value % divisor);
        let quotient = match (up, remainder) {
            (true, r) if r > 0 => quotient + 1,
            (false, r) if r < 0 => quotient - 1,
            _ => quotient,
        };
        // Back at the result's scale.
        let exponent = i64::from(result_scale) - target;
        if exponent >= 0 {
            quotient * 10i128.pow(exponent as u32)
        } else {
            quotient / 10i128.pow((-exponent) as u32)
        }
    };
    let rounded = if target >= scale {
        rounded * 10i128.pow((i64::from(result_scale) - scale).max(0) as u32)
    } else {
        rounded
    };
    Ok(ScalarValue::Decimal128(
        Some(rounded),
        precision,
        result_scale,
    ))
}

/// `array_insert(array, position, value)`: `value` (which may be NULL) at the 1-based
/// `position` (negative: from the end, -1 being after the last element); past the end the
/// array is padded with NULLs. `flatten` and `arrays_overlap` with Spark's NULLs: a NULL
/// inner array makes `flatten` NULL (DataFusion skips it), and arrays that share no
/// element but hold a NULL "might" overlap, so `arrays_overlap` is NULL (DataFusion: false).
pub(super) fn array_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new(
            "array_insert",
            insert_types,
            |t| Ok(t[0].clone()),
            array_insert,
        )
        .lenient()
        .udf(),
        RowFunction::new("flatten", flatten_types, flatten_type, flatten).udf(),
        RowFunction::new("arrays_overlap", overlap_types, boolean, arrays_overlap).udf(),
    ]
}

/// The elements of a one-row list value, as a list of arrays (None for a NULL list).
fn list_items(value: &ScalarValue) -> Option<datafusion::arrow::array::ArrayRef> {
    use datafusion::arrow::array::Array;
    match value {
        ScalarValue::List(list) if !list.is_null(0) => Some(list.value(0)),
        ScalarValue::LargeList(list) if !list.is_null(0) => Some(list.value(0)),
        ScalarValue::FixedSizeList(list) if !list.is_null(0) => Some(list.value(0)),
        _ => None,
    }
}

/// The element type of a list type.
fn element_type(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            Ok(field.data_type().clone())
        }
        DataType::Null => Ok(DataType::Null),
        other => datafusion::common::plan_err!(
            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {name} needs an array, got {other}"
        ),
    }
}

fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(element, true)))
}

fn flatten_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("flatten", types, 1, 1)?;
    let inner = element_type("flatten", &types[0])?;
    let element = element_type("flatten", &inner)?;
    Ok(vec![list_of(list_of(element))])
}

fn flatten_type(types: &[DataType]) -> Result<DataType> {
    element_type("flatten", &types[0])
}

fn flatten(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    use datafusion::arrow::array::{Array, AsArray};
    let Some(inner) = list_items(&args[0]) else {
        return ScalarValue::try_from(context.return_type);
    };
    if inner.null_count() > 0 {
        return ScalarValue::try_from(context.return_type);
    }
    let lists = inner.as_list::<i32>();
    let parts: Vec<_> = lists.iter().flatten().collect();
    let element = element_type("flatten", context.return_type)?;
    let values = if parts.is_empty() {
        datafusion::arrow::array::new_empty_array(&element)
    } else {
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        datafusion::arrow::compute::concat(&refs)?
    };
    Ok(ScalarValue::List(Arc::new(
        datafusion::arrow::array::ListArray::new(
            Arc::new(Field::new_list_field(element, true)),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        ),
    )))
}

fn overlap_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("arrays_overlap", types, 2, 2)?;
    let left = element_type("arrays_overlap", &types[0])?;
    let right = element_type("arrays_overlap", &types[1])?;
    let Some(common) =
        datafusion::logical_expr::type_coercion::binary::comparison_coercion(&left, &right)
    else {
        return datafusion::common::plan_err!(
            "[DATATYPE_MISMATCH.BINARY_ARRAY_DIFF_TYPES] Input to function `arrays_overlap` \
             should have been two ARRAY with same element type, but it's [ARRAY<{left}>, \
             ARRAY<{right}>]."
        );
    };
    Ok(vec![list_of(common.clone()), list_of(common)])
}

fn arrays_overlap(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    use datafusion::arrow::array::Array;
    let (Some(left), Some(right)) = (list_items(&args[0]), list_items(&args[1])) else {
        return Ok(ScalarValue::Boolean(None));
    };
    let values = |array: &dyn Array| -> Result<Vec<ScalarValue>> {
        (0..array.len())
            .filter(|i| array.is_valid(*i))
            .map(|i| ScalarValue::try_from_array(array, i))
            .collect()
    };
    let right_values = values(right.as_ref())?;
    if values(left.as_ref())?
        .iter()
        .any(|l| right_values.contains(l))
    {
        return Ok(ScalarValue::Boolean(Some(true)));
    }
    let might = (left.null_count() > 0 && !right.is_empty())
        || (right.null_count() > 0 && !left.is_empty());
    Ok(ScalarValue::Boolean((!might).then_some(false)))
}

fn insert_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("array_insert", types, 3, 3)?;
    let element = match &types[0] {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            field.data_type().clone()
        }
        other => {
            return datafusion::common::plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] array_insert needs an array, got {other}"
            );
        }
    };
    let element = if element.is_null() {
        types[2].clone()
    } else {
        element
    };
    Ok(vec![
        DataType::List(Arc::new(Field::new_list_field(element.clone(), true))),
        DataType::Int32,
        element,
    ])
}

fn array_insert(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    use datafusion::arrow::array::Array;
    let ScalarValue::List(list) = &args[0] else {
        return ScalarValue::try_from(context.return_type);
    };
    if list.is_null(0) {
        return ScalarValue::try_from(context.return_type);
    }
    let Some(position) = integer(&args[1]) else {
        return ScalarValue::try_from(context.return_type);
    };
    let values = list.value(0);
    let mut items: Vec<ScalarValue> = (0..values.len())
        .map(|i| ScalarValue::try_from_array(&values, i))
        .collect::<Result<_>>()?;
    let element_type = values.data_type().clone();
    let null = ScalarValue::try_from(&element_type)?;
    let len = items.len() as i64;
    if position == 0 {
        return exec_err!(
            "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be either < 0 or > 0 \
             (the first element has index 1)."
        );
    }
    if position > 0 {
        let at = (position - 1) as usize;
        if at > items.len() {
            items.resize(at, null);
        }
        items.insert(at, args[2].clone());
    } else {
        // -1 inserts after the last element.
        let at = len + position + 1;
        if at >= 0 {
            items.insert(at as usize, args[2].clone());
        } else {
            let mut padded = vec![args[2].clone()];
            padded.extend(std::iter::repeat_n(null, (-at) as usize));
            padded.extend(items);
            items = padded;
        }
    }
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &items,
        &element_type,
    )))
}

/// `map_concat(map, ...)`: the entries of every map in order; a key in two maps is Spark's
/// `DUPLICATED_MAP_KEY` error (`spark.sql.mapKeyDedupPolicy=EXCEPTION`, the default), or
/// takes the later value in the earlier place (`LAST_WIN`).
pub(super) fn map_functions() -> Vec<Arc<ScalarUDF>> {
    vec![RowFunction::new("map_concat", map_types, |t| Ok(t[0].clone()), map_concat).udf()]
}

fn map_types(types: &[DataType]) -> Result<Vec<DataType>> {
    use datafusion::arrow::datatypes::{Field, Fields};
    let mismatch = || {
        datafusion::common::plan_err!(
            "[DATATYPE_MISMATCH.MAP_CONCAT_DIFF_TYPES] The `map_concat` should all be of type \
             map, but it's {}.",
            types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    // Each map's entry fields; an untyped NULL argument has none.
    let mut entries: Vec<(Arc<Field>, bool, Fields)> = Vec::new();
    for t in types {
        match t {
            DataType::Map(field, sorted) => match field.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => {
                    entries.push((Arc::clone(field), *sorted, fields.clone()))
                }
                _ => return mismatch(),
            },
            DataType::Null => {}
            _ => return mismatch(),
        }
    }
    let Some((field, sorted, fields)) = entries.first().cloned() else {
        return mismatch();
    };
    // The key and the value type are the first one given; an empty `map()` or a value of
    // NULLs only (`map(3, null)`) has no type of its own and takes it.
    let mut common = [DataType::Null, DataType::Null];
    for (_, _, fields) in &entries {
        for (slot, f) in common.iter_mut().zip(fields.iter()) {
            if slot.is_null() {
                *slot = f.data_type().clone();
            } else if !f.data_type().is_null() && !f.data_type().equals_datatype(slot) {
                return mismatch();
            }
        }
    }
    let [key, value] = common;
    let fields: Fields = vec![
        fields[0].as_ref().clone().with_data_type(key),
        fields[1]
            .as_ref()
            .clone()
            .with_data_type(value)
            .with_nullable(true),
    ]
    .into();
    let map = DataType::Map(
        Arc::new(
            field
                .as_ref()
                .clone()
                .with_data_type(DataType::Struct(fields)),
        ),
        sorted,
    );
    Ok(vec![map; types.len()])
}

fn map_concat(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    use datafusion::arrow::array::{Array, ArrayRef, MapArray, StructArray};
    let DataType::Map(entries_field, sorted) = context.return_type else {
        return exec_err!("map_concat: not a map type");
    };
    let DataType::Struct(fields) = entries_field.data_type() else {
        return exec_err!("map_concat: not a map type");
    };
    let last_win = context.config.spark.map_key_dedup_policy
        == datafusion::common::config::MapKeyDedupPolicy::LastWin;
    let mut keys: Vec<ScalarValue> = Vec::new();
    let mut values: Vec<ScalarValue> = Vec::new();
    for arg in args {
        let ScalarValue::Map(map) = arg else {
            continue;
        };
        let entries = map.value(0);
        for i in 0..entries.len() {
            let key = ScalarValue::try_from_array(entries.column(0), i)?;
            if last_win && let Some(at) = keys.iter().position(|k| *k == key) {
                values[at] = ScalarValue::try_from_array(entries.column(1), i)?;
                continue;
            }
            if keys.contains(&key) {
                return exec_err!(
                    "[DUPLICATED_MAP_KEY] Duplicate map key {key} was found, please check the \
                     input data. If you want to remove the duplicated keys, you can set \
                     \"spark.sql.mapKeyDedupPolicy\" to \"LAST_WIN\" so that the key inserted \
                     at last takes precedence. SQLSTATE: 23505"
                );
            }
            keys.push(key);
            values.push(ScalarValue::try_from_array(entries.column(1), i)?);
        }
    }
    let column = |items: Vec<ScalarValue>, t: &DataType| -> Result<ArrayRef> {
        if items.is_empty() {
            Ok(datafusion::arrow::array::new_empty_array(t))
        } else {
            ScalarValue::iter_to_array(items)
        }
    };
    let key_array = column(keys, fields[0].data_type())?;
    let value_array = column(values, fields[1].data_type())?;
    let entries = StructArray::try_new(fields.clone(), vec![key_array, value_array], None)?;
    let offsets = datafusion::arrow::buffer::OffsetBuffer::from_lengths([entries.len()]);
    Ok(ScalarValue::Map(Arc::new(MapArray::try_new(
        Arc::clone(entries_field),
        offsets,
        entries,
        None,
        *sorted,
    )?)))
}
