//! Spark's number formats (`ToNumberParser`): `to_number`/`try_to_number` read text with a
//! format such as `'$99,999.99S'` into a decimal, and `to_char`/`to_varchar` write a number
//! with one (dates take a datetime pattern, binary `'hex'`, `'base64'` or `'utf-8'`).
//!
//! A format is `[MI|S] [$] [0|9|G|,]* [.|D] [0|9]* [$] [PR|MI|S]`: `0`/`9` are digits (a
//! run starting with `0` before the point must be matched exactly and is padded with zeros
//! when written), `,`/`G` group separators, `.`/`D` the decimal point, `S` a sign, `MI` a
//! minus, `PR` angle brackets around a negative number.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::returns::string;
use super::row::{RowContext, RowFunction, arity, decimal_text, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("to_number", number_types, number_type, to_number)
            .returns_from_literals(number_type_of_format)
            .udf(),
        RowFunction::new("try_to_number", number_types, number_type, try_to_number)
            .returns_from_literals(number_type_of_format)
            .udf(),
        RowFunction::new("to_char", char_types, string, to_char)
            .aliases(&["to_varchar"])
            .udf(),
    ]
}

fn number_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_number", types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

/// `to_number`'s result is a decimal whose shape comes from the format, known only when the
/// function is planned with its literal format: see [`NumberFormat::decimal_type`]. Until
/// then (and for a format that is not a literal) it is `decimal(38,18)`.
fn number_type(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Decimal128(38, 18))
}

fn char_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_char", types, 2, 2)?;
    let value = match &types[0] {
        t @ (DataType::Date32 | DataType::Timestamp(..)) => t.clone(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
        DataType::Int8 => DataType::Decimal128(3, 0),
        DataType::Int16 => DataType::Decimal128(5, 0),
        DataType::Int32 => DataType::Decimal128(10, 0),
        DataType::Int64 => DataType::Decimal128(20, 0),
        DataType::Float32 => DataType::Decimal128(14, 7),
        DataType::Float64 => DataType::Decimal128(30, 15),
        DataType::Null => DataType::Decimal128(10, 0),
        other if other.is_numeric() => DataType::Decimal128(38, 18),
        other if crate::analyzer::is_text(other) => DataType::Decimal128(38, 18),
        other => return plan_err!("to_char: cannot format a value of type {other}"),
    };
    Ok(vec![value, DataType::Utf8])
}

/// One token of a number format.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// Digits and separators between them.
    Group(Vec<Part>),
    Point,
    Dollar,
    /// `S`: `+` or `-`.
    Sign,
    /// `MI`: `-` or a space.
    Minus,
    /// `PR`'s `<`, at the front.
    Open,
    /// `PR`'s `>`, at the end.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    /// `n` digits; `exact` for a run of `0...` before the point.
    Digits {
        n: usize,
        exact: bool,
    },
    Separator,
}

/// A parsed and validated number format.
#[derive(Debug)]
struct NumberFormat {
    tokens: Vec<Token>,
    /// The format as written, upper-cased (for messages).
    text: String,
}

fn invalid(format: &str, reason: &str, detail: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "[INVALID_FORMAT.{reason}] The format is invalid: '{format}'. {detail} SQLSTATE: 42601"
    ))
}

impl NumberFormat {
    fn parse(format: &str) -> Result<Self> {
        let text = format.to_uppercase();
        let chars: Vec<char> = text.chars().collect();
        let mut tokens: Vec<Token> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        let mut seen_point = false;
        let mut i = 0;
        let flush = |parts: &mut Vec<Part>, tokens: &mut Vec<Token>| {
            if !parts.is_empty() {
                tokens.push(Token::Group(std::mem::take(parts)));
            }
        };
        while i < chars.len() {
            match chars[i] {
                c @ ('0' | '9') => {
                    let start = i;
                    while i < chars.len() && matches!(chars[i], '0' | '9') {
                        i += 1;
                    }
                    parts.push(Part::Digits {
                        n: i - start,
                        exact: c == '0' && !seen_point,
                    });
                    continue;
                }
                ',' | 'G' => parts.push(Part::Separator),
                other => {
                    flush(&mut parts, &mut tokens);
                    match other {
                        '.' | 'D' => {
                            seen_point = true;
                            tokens.push(Token::Point);
                        }
                        '$' => tokens.push(Token::Dollar),
                        'S' => tokens.push(Token::Sign),
                        'M' if chars.get(i + 1) == Some(&'I') => {
                            i += 1;
                            tokens.push(Token::Minus);
                        }
                        'P' if chars.get(i + 1) == Some(&'R') => {
                            i += 1;
                            tokens.insert(0, Token::Open);
                            tokens.push(Token::Close);
                        }
                        c => {
                            return Err(invalid(
                                &text,
                                "UNEXPECTED_TOKEN",
                                &format!(
                                    "Found the unexpected character '{c}' in the format \
                                     string; the structure of the format string must match: \
                                     `[MI|S]` `[$]` `[0|9|G|,]*` `[.|D]` `[0|9]*` `[$]` \
                                     `[PR|MI|S]`."
                                ),
                            ));
                        }
                    }
                }
            }
            i += 1;
        }
        flush(&mut parts, &mut tokens);
        let format = Self { tokens, text };
        format.validate()?;
        Ok(format)
    }

    fn validate(&self) -> Result<()> {
        let text = &self.text;
        if text.is_empty() {
            return Err(invalid(
                text,
                "EMPTY",
                "The number format string cannot be empty.",
            ));
        }
        let position = |t: &dyn Fn(&Token) -> bool| self.tokens.iter().position(t);
        let Some(first_group) = position(&|t| matches!(t, Token::Group(_))) else {
            return Err(invalid(
                text,
                "WRONG_NUM_DIGIT",
                "The format string requires at least one number digit.",
            ));
        };
        let dollar = position(&|t| *t == Token::Dollar);
        if dollar.is_some_and(|d| first_group < d) {
            return Err(invalid(
                text,
                "CUR_MUST_BEFORE_DIGIT",
                "Currency characters must appear before digits in the number format.",
            ));
        }
        let point = position(&|t| *t == Token::Point);
        for (index, token) in self.tokens.iter().enumerate() {
            let Token::Group(parts) = token else { continue };
            let after_point = point.is_some_and(|p| index > p);
            let separators = parts.contains(&Part::Separator);
            if after_point && separators {
                return Err(invalid(
                    text,
                    "THOUSANDS_SEPS_MUST_BEFORE_DEC",
                    "Thousands separators (, or G) may not appear after the decimal point in \
                     the number format.",
                ));
            }
            let bad_separator = parts.first() == Some(&Part::Separator)
                || parts.last() == Some(&Part::Separator)
                || parts
                    .windows(2)
                    .any(|w| w[0] == Part::Separator && w[1] == Part::Separator);
            if bad_separator {
                return Err(invalid(
                    text,
                    "CONT_THOUSANDS_SEPS",
                    "Thousands separators (, or G) must have digits in between them in the \
                     number format.",
                ));
            }
        }
        for (token, name) in [
            (Token::Point, ". or D"),
            (Token::Sign, "S"),
            (Token::Minus, "MI"),
            (Token::Dollar, "$"),
            (Token::Close, "PR"),
        ] {
            if self.tokens.iter().filter(|t| **t == token).count() > 1 {
                return Err(invalid(
                    text,
                    "WRONG_NUM_TOKEN",
                    &format!("At most one {name} is allowed in the number format."),
                ));
            }
        }
        // [<] [MI|S] [$] [digits] [.] [digits] [$] [MI|S|>], in this order.
        type Slot = fn(&Token) -> bool;
        let slots: [Slot; 8] = [
            |t| *t == Token::Open,
            |t| matches!(t, Token::Minus | Token::Sign),
            |t| *t == Token::Dollar,
            |t| matches!(t, Token::Group(_)),
            |t| *t == Token::Point,
            |t| matches!(t, Token::Group(_)),
            |t| *t == Token::Dollar,
            |t| matches!(t, Token::Minus | Token::Sign | Token::Close),
        ];
        let mut next = 0;
        for slot in slots {
            if self.tokens.get(next).is_some_and(slot) {
                next += 1;
            }
        }
        if let Some(token) = self.tokens.get(next) {
            let name = match token {
                Token::Group(_) => "digit sequence",
                Token::Point => ". or D",
                Token::Dollar => "$",
                Token::Sign => "S",
                Token::Minus => "MI",
                Token::Open | Token::Close => "PR",
            };
            return Err(invalid(
                text,
                "UNEXPECTED_TOKEN",
                &format!(
                    "Found the unexpected {name} in the format string; the structure of the \
                     format string must match: `[MI|S]` `[$]` `[0|9|G|,]*` `[.|D]` `[0|9]*` \
                     `[$]` `[PR|MI|S]`."
                ),
            ));
        }
        Ok(())
    }

    fn digits(parts: &[Part]) -> usize {
        parts
            .iter()
            .map(|p| match p {
                Part::Digits { n, .. } => *n,
                Part::Separator => 0,
            })
            .sum()
    }

    /// The digits the format has before and after its decimal point.
    fn shape(&self) -> (usize, usize) {
        let mut before = 0;
        let mut after = 0;
        let mut seen_point = false;
        for token in &self.tokens {
            match token {
                Token::Point => seen_point = true,
                Token::Group(parts) if seen_point => after += Self::digits(parts),
                Token::Group(parts) => before += Self::digits(parts),
                _ => {}
            }
        }
        (before, after)
    }

    /// `to_number`'s result type: `decimal(digits, digits after the point)`.
    fn decimal_type(&self) -> Result<(u8, i8)> {
        let (before, after) = self.shape();
        let precision = before + after;
        if precision > 38 {
            return plan_err!(
                "[DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION] Decimal precision {precision} exceeds \
                 max precision 38."
            );
        }
        Ok((precision as u8, after as i8))
    }

    /// Reads `input`; `None` when it does not match the format.
    fn read(&self, input: &str) -> Option<(bool, String, String)> {
        let chars: Vec<char> = input.chars().collect();
        let (mut before, mut after) = (String::new(), String::new());
        let (mut point, mut negative, mut open, mut close) = (false, false, false, false);
        let mut i = 0;
        for token in &self.tokens {
            let c = chars.get(i).copied();
            match token {
                Token::Group(parts) => {
                    let digits = if point { &mut after } else { &mut before };
                    i = read_groups(parts, &chars, i, digits)?;
                }
                Token::Point => {
                    if c == Some('.') {
                        point = true;
                        i += 1;
                    }
                }
                Token::Dollar => match c {
                    None => {}
                    Some('$') => i += 1,
                    Some(_) => return None,
                },
                Token::Sign => match c {
                    Some('+') => i += 1,
                    Some('-') => {
                        negative = !negative;
                        i += 1;
                    }
                    _ => {}
                },
                Token::Minus => {
                    if c == Some('-') {
                        negative = !negative;
                        i += 1;
                    }
                }
                Token::Open => {
                    if c == Some('<') {
                        if open {
                            return None;
                        }
                        open = true;
                        i += 1;
                    }
                }
                Token::Close => {
                    if c == Some('>') {
                        if !open {
                            return None;
                        }
                        close = true;
                        negative = !negative;
                        i += 1;
                    }
                }
            }
        }
        if i < chars.len() || open != close || (before.is_empty() && after.is_empty()) {
            return None;
        }
        Some((negative, before, after))
    }

    /// Writes the decimal `digits` (its plain text, `-` first when negative).
    fn write(&self, plain: &str) -> String {
        let negative = plain.starts_with('-');
        let unsigned = plain.trim_start_matches('-');
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        let (nb, na) = self.shape();
        let (whole, fraction): (Vec<char>, Vec<char>) = if whole.len() > nb || fraction.len() > na {
            (vec!['#'; nb], vec!['#'; na])
        } else {
            let mut w = vec![' '; nb - whole.len()];
            w.extend(whole.chars());
            let mut f: Vec<char> = fraction.chars().collect();
            f.resize(na, '0');
            (w, f)
        };
        let (mut bi, mut ai) = (0, 0);
        let mut out: Vec<char> = Vec::new();
        let mut seen_point = false;
        for token in &self.tokens {
            match token {
                Token::Group(parts) => {
                    for part in parts {
                        match part {
                            Part::Digits { n, exact } => {
                                for _ in 0..*n {
                                    if seen_point {
                                        out.push(fraction.get(ai).copied().unwrap_or('0'));
                                        ai += 1;
                                    } else {
                                        let c = whole.get(bi).copied().unwrap_or(' ');
                                        bi += 1;
                                        match c {
                                            ' ' if *exact => out.push('0'),
                                            ' ' => push_space(&mut out),
                                            c => out.push(c),
                                        }
                                    }
                                }
                            }
                            Part::Separator => {
                                if out.last().is_some_and(|c| c.is_ascii_digit()) {
                                    out.push(',');
                                } else {
                                    push_space(&mut out);
                                }
                            }
                        }
                    }
                }
                Token::Point => {
                    seen_point = true;
                    if out.last() == Some(&' ') {
                        out.pop();
                        out.push('0');
                    }
                    out.push('.');
                }
                Token::Dollar => out.push('$'),
                Token::Sign => {
                    strip_lone_point(&mut out);
                    push_float(&mut out, if negative { '-' } else { '+' });
                }
                Token::Minus => {
                    if negative {
                        strip_lone_point(&mut out);
                        push_float(&mut out, '-');
                    } else {
                        out.push(' ');
                    }
                }
                Token::Open => {
                    if negative {
                        out.push('<');
                    }
                }
                Token::Close => {
                    strip_lone_point(&mut out);
                    if negative {
                        push_float(&mut out, '>');
                    } else {
                        out.extend([' ', ' ']);
                    }
                }
            }
        }
        strip_lone_point(&mut out);
        let written: String = out.into_iter().collect();
        if matches!(written.as_str(), "" | "+" | "-") {
            "0".to_string()
        } else {
            written
        }
    }
}

/// A space that moves left past any sign or `<` already written.
fn push_space(out: &mut Vec<char>) {
    out.push(' ');
    let mut i = out.len() - 1;
    while i > 0 && matches!(out[i - 1], '+' | '-' | '<') {
        out.swap(i, i - 1);
        i -= 1;
    }
}

/// A sign that moves left past any spaces already written.
fn push_float(out: &mut Vec<char>, c: char) {
    out.push(c);
    let mut i = out.len() - 1;
    while i > 0 && out[i - 1] == ' ' {
        out.swap(i, i - 1);
        i -= 1;
    }
}

/// A decimal point with no digit after it is a space.
fn strip_lone_point(out: &mut [char]) {
    if let Some(i) = out.iter().position(|c| *c == '.')
        && out.get(i + 1).is_none_or(|c| *c == ' ')
    {
        out[i] = ' ';
    }
}

/// Reads the digits of one group of the format from `chars` at `i` into `digits`;
/// returns where it stopped, or `None` when the digit counts do not fit the group.
fn read_groups(parts: &[Part], chars: &[char], mut i: usize, digits: &mut String) -> Option<usize> {
    let mut sizes: Vec<usize> = Vec::new();
    let mut current = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            current += 1;
            digits.push(c);
            i += 1;
        } else if c == ',' {
            sizes.insert(0, current);
            current = 0;
            i += 1;
        } else {
            break;
        }
    }
    sizes.insert(0, current);
    // The format's digit runs, right to left.
    let runs: Vec<(usize, bool)> = parts
        .iter()
        .rev()
        .filter_map(|p| match p {
            Part::Digits { n, exact } => Some((*n, *exact)),
            Part::Separator => None,
        })
        .collect();
    // `sizes` was built right to left too (each group put in front).
    if sizes.len() > runs.len() {
        return None;
    }
    for (k, (n, exact)) in runs.iter().enumerate() {
        let actual = sizes.get(k).copied().unwrap_or(0);
        if (*exact && actual != *n) || (!*exact && actual > *n) {
            return None;
        }
    }
    Some(i)
}

fn parsed_format(args: &[ScalarValue]) -> Result<Option<NumberFormat>> {
    match text(&args[1]) {
        Some(format) => NumberFormat::parse(format).map(Some),
        None => Ok(None),
    }
}

fn number(args: &[ScalarValue], context: &RowContext, lenient: bool) -> Result<ScalarValue> {
    let DataType::Decimal128(precision, scale) = *context.return_type else {
        return exec_err!("to_number: unexpected result type {}", context.return_type);
    };
    let (Some(input), Some(format)) = (text(&args[0]), parsed_format(args)?) else {
        return Ok(ScalarValue::Decimal128(None, precision, scale));
    };
    let Some((negative, before, after)) = format.read(input) else {
        if lenient {
            return Ok(ScalarValue::Decimal128(None, precision, scale));
        }
        return exec_err!(
            "[INVALID_FORMAT.MISMATCH_INPUT] The format is invalid: {}. The input STRING \
             '{input}' does not match the format. SQLSTATE: 42601",
            format.text
        );
    };
    let scale_digits = scale.max(0) as usize;
    let mut fraction = after;
    fraction.truncate(scale_digits);
    while fraction.len() < scale_digits {
        fraction.push('0');
    }
    let digits = format!("{before}{fraction}");
    let unscaled: i128 = if digits.is_empty() {
        0
    } else {
        digits
            .parse()
            .map_err(|_| DataFusionError::Execution(format!("to_number: cannot read '{input}'")))?
    };
    let value = if negative { -unscaled } else { unscaled };
    Ok(ScalarValue::Decimal128(Some(value), precision, scale))
}

fn to_number(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    number(args, context, false)
}

fn try_to_number(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    number(args, context, true)
}

fn to_char(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(format) = text(&args[1]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let written = match &args[0] {
        ScalarValue::Decimal128(Some(value), _, scale) => {
            NumberFormat::parse(format)?.write(&decimal_text(*value, *scale))
        }
        ScalarValue::Binary(Some(bytes)) => super::encoding::bytes_to_text(bytes, format.trim())?,
        ScalarValue::Date32(Some(days)) => {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| DataFusionError::Execution(format!("to_char: bad date {days}")))?;
            date.format(&super::datetime_pattern::chrono_format(format)?)
                .to_string()
        }
        ScalarValue::TimestampMicrosecond(Some(micros), _) => {
            let time = chrono::DateTime::from_timestamp_micros(*micros)
                .ok_or_else(|| DataFusionError::Execution(format!("to_char: bad time {micros}")))?
                .naive_utc();
            time.format(&super::datetime_pattern::chrono_format(format)?)
                .to_string()
        }
        ScalarValue::TimestampNanosecond(Some(nanos), _) => {
            let time = chrono::DateTime::from_timestamp_nanos(*nanos).naive_utc();
            time.format(&super::datetime_pattern::chrono_format(format)?)
                .to_string()
        }
        other if other.is_null() => return Ok(ScalarValue::Utf8(None)),
        other => return exec_err!("to_char: cannot format {other}"),
    };
    Ok(ScalarValue::Utf8(Some(written)))
}

/// `to_number(text, 'format')`'s result type, from its literal format.
fn number_type_of_format(
    types: &[DataType],
    literals: &[Option<&ScalarValue>],
) -> Result<DataType> {
    match literals.get(1).copied().flatten().and_then(text) {
        Some(format) => {
            let (precision, scale) = NumberFormat::parse(format)?.decimal_type()?;
            Ok(DataType::Decimal128(precision, scale))
        }
        None => number_type(types),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(value: &str, format: &str) -> String {
        NumberFormat::parse(format).unwrap().write(value)
    }

    #[test]
    fn numbers_are_written_as_spark_writes_them() {
        assert_eq!(write("454", "999"), "454");
        assert_eq!(write("454.00", "000D00"), "454.00");
        assert_eq!(write("12454", "99G999"), "12,454");
        assert_eq!(write("78.12", "$99.99"), "$78.12");
        assert_eq!(write("-12454.8", "99G999D9S"), "12,454.8-");
        assert_eq!(write("12", "000,000"), "000,012");
        assert_eq!(write("-45", "S9999"), "  -45");
        assert_eq!(write("454", "S999"), "+454");
        assert_eq!(write("4.67", "9.9"), "#.#");
        assert_eq!(write("0.5", "99.99"), " 0.50");
        assert_eq!(write("-454", "999PR"), "<454>");
    }

    #[test]
    fn text_is_read_with_the_format() {
        let read = |input: &str, format: &str| NumberFormat::parse(format).unwrap().read(input);
        assert_eq!(
            read("12,454", "99,999"),
            Some((false, "12454".into(), "".into()))
        );
        assert_eq!(
            read("12,454.8-", "99,999.9S"),
            Some((true, "12454".into(), "8".into()))
        );
        assert_eq!(read("12454", "99,999"), None);
        assert!(NumberFormat::parse("9$").is_err());
    }
}
