//! How the UIs print sizes and durations (Spark's `Utils.bytesToString` and
//! `UIUtils.formatDuration`).

/// A duration in milliseconds as `850 ms`, `3.2 s` or `1.5 min`.
pub(crate) fn duration_text(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{:.1} min", millis as f64 / 60_000.0)
    }
}

/// A byte count in binary units with one decimal, as `4.7 KiB`.
pub(crate) fn bytes_text(bytes: u64) -> String {
    if bytes == 0 {
        return "0.0 B".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// A count with thousands separators, as Spark prints SQL row counts (`2,000,000`).
pub(crate) fn count_text(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sizes_and_durations_print_as_spark_does() {
        assert_eq!(count_text(0), "0");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_text(1000), "1,000");
        assert_eq!(count_text(2_000_000), "2,000,000");
        assert_eq!(bytes_text(4813), "4.7 KiB");
        assert_eq!(duration_text(850), "850 ms");
        assert_eq!(duration_text(3200), "3.2 s");
    }
}
