use crate::ConfError;

/// Parses a size string as Spark's `JavaUtils.byteStringAs` does: `512`, `512m`, `4g`, `1.5g`
/// is rejected like Spark rejects fractions; a bare number uses `default_unit_bytes`.
pub fn parse_size(key: &str, value: &str, default_unit_bytes: u64) -> Result<u64, ConfError> {
    let invalid = || ConfError::InvalidSize {
        key: key.to_string(),
        value: value.to_string(),
    };
    let lower = value.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    if number.is_empty() {
        return Err(invalid());
    }
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let multiplier: u64 = match unit {
        "" => default_unit_bytes,
        "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        "p" | "pb" => 1 << 50,
        _ => return Err(invalid()),
    };
    number.checked_mul(multiplier).ok_or_else(invalid)
}

/// Formats a byte count the way Spark's `Utils.bytesToString` does, e.g. `1024.0 MiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 * 2.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: Option<u64>) {
        assert_eq!(
            parse_size("spark.executor.memory", value, 1 << 20).ok(),
            expected,
            "{value}"
        );
    }

    #[test]
    fn parses_sizes_like_spark() {
        check("500m", Some(500 << 20));
        check("4g", Some(4 << 30));
        check("4G", Some(4 << 30));
        check("1024", Some(1024 << 20));
        check("10kb", Some(10 << 10));
        check("7b", Some(7));
        check("5x", None);
        check("", None);
        check("1.5g", None);
        check("m", None);
        check("99999999999999999999g", None);
    }

    #[test]
    fn error_names_key_and_value() {
        let err = parse_size("spark.driver.memory", "5x", 1).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid size \"5x\" for spark.driver.memory")
        );
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1 << 30), "1024.0 MiB");
        assert_eq!(format_size(23 << 30), "23.0 GiB");
    }
}
