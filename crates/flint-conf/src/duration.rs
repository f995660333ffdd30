use std::time::Duration;

use crate::ConfError;

/// Parses a Spark time string (`Utils.timeStringAs`): a number with an optional unit
/// `us`, `ms`, `s`, `m`/`min`, `h` or `d`; a bare number is in seconds.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfError> {
    let invalid = || ConfError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        expected: "a duration such as 10s, 500ms or 2min",
    };
    let text = value.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Duration>) {
        assert_eq!(parse_duration("k", input).ok(), expected, "{input}");
    }

    #[test]
    fn parses_spark_time_strings() {
        check("10", Some(Duration::from_secs(10)));
        check("10s", Some(Duration::from_secs(10)));
        check("500ms", Some(Duration::from_millis(500)));
        check("2min", Some(Duration::from_secs(120)));
        check("1h", Some(Duration::from_secs(3600)));
        check("1.5s", Some(Duration::from_millis(1500)));
        check("ten", None);
        check("5x", None);
        check("", None);
    }
}
