//! Spark's `split(str, regex[, limit])` (Java's `String.split`), `mask(str[, upper,
//! lower, digit, other])` and `format_number(x, d)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(Split::new())),
        Arc::new(ScalarUDF::from(Mask::new())),
        Arc::new(ScalarUDF::from(FormatNumber::new())),
    ]
}

fn text_args(
    name: &str,
    arg_types: &[DataType],
    texts: usize,
    ints: usize,
) -> Result<Vec<DataType>> {
    if arg_types.len() < texts || arg_types.len() > texts + ints {
        return plan_err!("{name}: wrong number of arguments ({})", arg_types.len());
    }
    Ok((0..arg_types.len())
        .map(|i| {
            if i < texts {
                DataType::Utf8
            } else {
                DataType::Int32
            }
        })
        .collect())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Split {
    signature: Signature,
}

impl Split {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Split {
    fn name(&self) -> &str {
        "split"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        text_args("split", arg_types, 2, 1)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let text = arrays[0].as_string::<i32>();
        let pattern = arrays[1].as_string::<i32>();
        let limit = arrays.get(2).map(|a| a.as_primitive::<Int32Type>());
        let mut out = ListBuilder::new(StringBuilder::new());
        let mut compiled: Option<(String, regex::Regex)> = None;
        for row in 0..rows {
            if text.is_null(row) || pattern.is_null(row) || limit.is_some_and(|l| l.is_null(row)) {
                out.append_null();
                continue;
            }
            let source = pattern.value(row);
            if compiled.as_ref().is_none_or(|(s, _)| s != source) {
                let regex = regex::Regex::new(source).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "[INVALID_PARAMETER_VALUE.PATTERN] The value of parameter(s) `regexp` in \
                         `split` is invalid: {e}"
                    ))
                })?;
                compiled = Some((source.to_string(), regex));
            }
            let Some((_, regex)) = compiled.as_ref() else {
                return exec_err!("split: no pattern");
            };
            let limit = limit.map(|l| l.value(row)).unwrap_or(-1);
            let value = text.value(row);
            let mut parts: Vec<&str> = if limit > 0 {
                regex.splitn(value, limit as usize).collect()
            } else {
                regex.split(value).collect()
            };
            // Java's split(regex, 0) drops trailing empty strings; a negative limit keeps them.
            if limit == 0 {
                while parts.last() == Some(&"") && parts.len() > 1 {
                    parts.pop();
                }
            }
            for part in parts {
                out.values().append_value(part);
            }
            out.append(true);
        }
        super::columnar(Arc::new(out.finish()), scalar)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Mask {
    signature: Signature,
}

impl Mask {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Mask {
    fn name(&self) -> &str {
        "mask"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        text_args("mask", arg_types, arg_types.len().clamp(1, 5), 0)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let text = arrays[0].as_string::<i32>();
        // Replacements: upper 'X', lower 'x', digit 'n', other kept; NULL keeps that class.
        let defaults = [Some('X'), Some('x'), Some('n'), None];
        let mut out: Vec<Option<String>> = Vec::with_capacity(rows);
        for row in 0..rows {
            if text.is_null(row) {
                out.push(None);
                continue;
            }
            let mut replacement = defaults;
            for (class, slot) in replacement.iter_mut().enumerate() {
                if let Some(array) = arrays.get(class + 1) {
                    let array = array.as_string::<i32>();
                    *slot = if array.is_null(row) {
                        None
                    } else {
                        match array.value(row).chars().collect::<Vec<_>>().as_slice() {
                            [c] => Some(*c),
                            _ => {
                                return exec_err!(
                                    "[INVALID_PARAMETER_VALUE.CHARSET] mask: a replacement must be one character"
                                );
                            }
                        }
                    };
                }
            }
            let masked = text
                .value(row)
                .chars()
                .map(|c| {
                    let class = if c.is_ascii_uppercase() {
                        0
                    } else if c.is_ascii_lowercase() {
                        1
                    } else if c.is_ascii_digit() {
                        2
                    } else {
                        3
                    };
                    replacement[class].unwrap_or(c)
                })
                .collect();
            out.push(Some(masked));
        }
        super::columnar(Arc::new(StringArray::from(out)), scalar)
    }
}

/// `format_number(x, d)`: `x` rounded half-even to `d` decimals with thousands separated
/// by commas (`12,332.1235`), as Java's `DecimalFormat("#,##0.0000")`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct FormatNumber {
    signature: Signature,
}

impl FormatNumber {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// `digits` (an unsigned integer part) with a comma every three digits.
fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl ScalarUDFImpl for FormatNumber {
    fn name(&self) -> &str {
        "format_number"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            // Text is what the number becomes once coerced (coercion runs again on it).
            [value, scale]
                if (value.is_numeric() || value.is_null() || value == &DataType::Utf8)
                    && scale.is_integer() =>
            {
                Ok(vec![DataType::Utf8, DataType::Int32])
            }
            [_, scale] if scale.is_integer() || scale.is_null() => {
                plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] format_number needs a number")
            }
            _ => plan_err!(
                "format_number(x, d) takes a number and a decimal count (a pattern is not supported)"
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        // The value arrives as Spark's text of it (exact for decimals).
        let text = arrays[0].as_string::<i32>();
        let scale = arrays[1].as_primitive::<Int32Type>();
        let out: StringArray = (0..rows)
            .map(|i| {
                if text.is_null(i) || scale.is_null(i) || scale.value(i) < 0 {
                    return None;
                }
                let d = scale.value(i) as usize;
                // Doubles arrive as Java prints them (`1.0E10`); digits only from here on.
                let value = text.value(i);
                let plain;
                let value = if value.contains(['E', 'e']) {
                    plain = value.parse::<f64>().map(|v| format!("{v}")).ok()?;
                    plain.as_str()
                } else {
                    value
                };
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
                {
                    return Some(value.to_string());
                }
                let (negative, digits) = match value.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
                // Round half even at d decimals on the decimal digits.
                let mut kept: Vec<u8> = whole
                    .bytes()
                    .chain(fraction.bytes().chain(std::iter::repeat(b'0')).take(d))
                    .map(|b| b - b'0')
                    .collect();
                let rest: Vec<u8> = fraction.bytes().skip(d).map(|b| b - b'0').collect();
                let up = match rest.first() {
                    Some(first) if *first > 5 => true,
                    Some(5) if rest[1..].iter().any(|d| *d > 0) => true,
                    Some(5) => kept.last().is_some_and(|last| last % 2 == 1),
                    _ => false,
                };
                if up {
                    let mut carry = true;
                    for digit in kept.iter_mut().rev() {
                        if !carry {
                            break;
                        }
                        *digit += 1;
                        carry = *digit == 10;
                        if carry {
                            *digit = 0;
                        }
                    }
                    if carry {
                        kept.insert(0, 1);
                    }
                }
                let split = kept.len() - d;
                let whole: String = kept[..split].iter().map(|d| char::from(b'0' + d)).collect();
                let whole = whole.trim_start_matches('0');
                let whole = if whole.is_empty() { "0" } else { whole };
                let fraction: String = kept[split..].iter().map(|d| char::from(b'0' + d)).collect();
                // Java's DecimalFormat keeps the sign of a negative number rounded to 0 (`-0`).
                let mut formatted = String::new();
                if negative {
                    formatted.push('-');
                }
                formatted.push_str(&group_thousands(whole));
                if d > 0 {
                    formatted.push('.');
                    formatted.push_str(&fraction);
                }
                Some(formatted)
            })
            .collect();
        super::columnar(Arc::new(out), scalar)
    }
}
