//! DataFusion's analysis errors in Spark's words, with Spark's error classes, where Spark
//! users look for them: an unknown function is `UNRESOLVED_ROUTINE`, an unknown column
//! `UNRESOLVED_COLUMN`, an unknown table `TABLE_OR_VIEW_NOT_FOUND`.

/// Spark's message for a DataFusion planning error `message`, when Spark has its own.
pub fn spark_error_message(message: &str) -> Option<String> {
    let quoted = |after: &str| -> Option<String> {
        let start = message.find(after)? + after.len();
        let rest = &message[start..];
        let end = rest.find(['\'', '"'])?;
        Some(rest[..end].to_string())
    };
    if message.contains("Invalid function '") {
        let name = quoted("Invalid function '")?;
        return Some(format!(
            "[UNRESOLVED_ROUTINE] Cannot resolve routine `{name}` on search path \
             [`system`.`builtin`, `system`.`session`, `spark_catalog`.`default`]. SQLSTATE: 42883"
        ));
    }
    if message.contains("No field named ") {
        let start = message.find("No field named ")? + "No field named ".len();
        let name: String = message[start..].chars().take_while(|c| *c != ' ').collect();
        let name = name.trim_end_matches('.').trim_matches(['"', '`']);
        return Some(format!(
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with \
             name `{name}` cannot be resolved. ({}) SQLSTATE: 42703",
            message.trim()
        ));
    }
    if let (Some(start), Some(end)) = (message.find("table '"), message.rfind("' not found")) {
        let name = message.get(start + "table '".len()..end)?;
        let name = name
            .strip_prefix("datafusion.public.")
            .or_else(|| name.strip_prefix("datafusion."))
            .unwrap_or(name);
        // ``parquet.`/path` `` names a path; Spark says the path is missing.
        if let Some((format, path)) = name.split_once('.')
            && ["parquet", "csv", "json", "orc", "text"].contains(&format)
        {
            return Some(format!(
                "[PATH_NOT_FOUND] Path does not exist: file:{path}. SQLSTATE: 42K03"
            ));
        }
        return Some(format!(
            "[TABLE_OR_VIEW_NOT_FOUND] The table or view `{name}` cannot be found. Verify the \
             spelling and correctness of the schema and catalog. SQLSTATE: 42P01"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_spark_error_classes() {
        assert_eq!(
            spark_error_message(
                "Error during planning: Invalid function 'foo'. Did you mean 'for'?"
            )
            .unwrap(),
            "[UNRESOLVED_ROUTINE] Cannot resolve routine `foo` on search path [`system`.`builtin`, \
             `system`.`session`, `spark_catalog`.`default`]. SQLSTATE: 42883"
        );
        assert!(
            spark_error_message("Error during planning: table 'datafusion.public.t' not found")
                .unwrap()
                .starts_with("[TABLE_OR_VIEW_NOT_FOUND] The table or view `t` cannot be found")
        );
        assert_eq!(spark_error_message("Arrow error: x"), None);
    }
}
