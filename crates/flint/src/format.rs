//! Rows as text, the way Spark prints them: `show()` tables and `spark-sql` output lines.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

/// The values of every row of `batch` as Spark's `show()` prints them: each value cast to a
/// string as Spark casts it (`[1, 2]`, `{a -> 1}`, doubles as Java prints them), nulls as
/// `NULL` at any depth.
pub fn format_row_values(batch: &RecordBatch) -> Vec<Vec<String>> {
    let format = flint_sql::HiveFormat::show_string();
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .map(|column| format.value(column, row, false))
                .collect()
        })
        .collect()
}

/// Spark's `showString(n, truncate = 20)`: a boxed table of the first `n` rows, right-aligned
/// cells cut to 20 characters, and a note when more rows exist.
pub fn format_show(schema: &SchemaRef, batches: &[RecordBatch], n: usize) -> String {
    format_show_with(schema, batches, n, 20, false)
}

/// Spark's `showString(n, truncate, vertical)`: cells longer than `truncate` characters are
/// cut (`0` keeps them whole and aligns left); `vertical` prints one block per row.
pub fn format_show_with(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    n: usize,
    truncate: usize,
    vertical: bool,
) -> String {
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let all_rows: Vec<Vec<String>> = batches.iter().flat_map(format_row_values).collect();
    let has_more = all_rows.len() > n;
    let cut = |cell: String| -> String {
        let length = cell.chars().count();
        if truncate == 0 || length <= truncate {
            cell
        } else if truncate < 4 {
            cell.chars().take(truncate).collect()
        } else {
            format!("{}...", cell.chars().take(truncate - 3).collect::<String>())
        }
    };
    let rows: Vec<Vec<String>> = all_rows
        .into_iter()
        .take(n)
        .map(|row| row.into_iter().map(cut).collect())
        .collect();
    let more = if has_more {
        format!(
            "only showing top {n} row{}\n",
            if n == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    if vertical {
        return format_vertical(&header, &rows) + &more;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let separator: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(*w)))
        .collect::<String>()
        + "+\n";
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                if truncate > 0 {
                    format!("|{c:>w$}")
                } else {
                    format!("|{c:<w$}")
                }
            })
            .collect::<String>()
            + "|\n"
    };
    let mut out = separator.clone();
    out += &line(&header);
    out += &separator;
    for row in &rows {
        out += &line(row);
    }
    out += &separator;
    out + &more
}

/// Spark's vertical `show`: `-RECORD 0----` then ` name | value` per column.
fn format_vertical(header: &[String], rows: &[Vec<String>]) -> String {
    let name_width = header.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .flatten()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0);
    if rows.is_empty() {
        return "(0 rows)\n".to_string();
    }
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let title = format!("-RECORD {index}");
        let width = name_width + value_width + 5;
        out += &format!(
            "{title}{}\n",
            "-".repeat(width.saturating_sub(title.chars().count()))
        );
        for (name, value) in header.iter().zip(row) {
            out += &format!(" {name:<name_width$} | {value:<value_width$} \n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn values_are_cast_to_strings_as_spark_does() {
        use datafusion::arrow::array::Float64Array;
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Float64Array::from(vec![
                Some(1e10),
                Some(0.5),
                None,
            ]))],
        )
        .unwrap();
        assert_eq!(
            format_row_values(&batch),
            [["1.0E10"], ["0.5"], ["NULL"]].map(|r| r.map(String::from).to_vec())
        );
    }

    #[test]
    fn shows_like_spark() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 22, 3])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("a very long name indeed, really"),
                ])),
            ],
        )
        .unwrap();
        let text = format_show(&schema, &[batch], 2);
        assert_eq!(
            text,
            "+---+----+\n| id|name|\n+---+----+\n|  1|   a|\n| 22|NULL|\n+---+----+\nonly showing top 2 rows\n"
        );
    }
}
