//! Spark resolves column names case-insensitively (`spark.sql.caseSensitive` is false by
//! default): `SELECT name FROM people` finds a column `Name`, and so do `NAME` and `` `NAME` ``.
//! DataFusion lowercases unquoted identifiers and then matches names exactly, so a column
//! with capitals is out of reach of unquoted SQL. When planning fails on an unknown column,
//! the caller rewrites each identifier that names no column exactly, but one column when
//! case is ignored, to that column's name as written, and plans again.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DFSchema, DataFusionError, SchemaError, TableReference};
use datafusion::sql::sqlparser::ast::{
    Cte, Expr, Ident, ObjectName, Query, Select, SelectItem, TableFactor, Visit, Visitor,
    VisitorMut,
};

/// The names a statement or expression can refer to, for case-insensitive resolution.
#[derive(Debug, Default)]
pub struct ColumnNames {
    /// Names as DataFusion sees them: columns as written, aliases after normalization.
    exact: HashSet<String>,
    /// Lowercased column name → the one column of that name, `None` when several differ by case.
    by_lower: HashMap<String, Option<String>>,
}

impl ColumnNames {
    /// The names of `schema`'s columns (and their struct fields) and qualifiers.
    pub fn of_schema(schema: &DFSchema) -> Self {
        let mut names = Self::default();
        for (qualifier, field) in schema.iter() {
            if let Some(qualifier) = qualifier {
                names.add_alias(qualifier.table());
            }
            names.add_field(field);
        }
        names
    }

    /// Adds a column, and the fields of a struct column, as names a query may refer to.
    pub fn add_field(&mut self, field: &Field) {
        self.add_column(field.name());
        let mut data_type = field.data_type();
        loop {
            match data_type {
                DataType::Struct(fields) => {
                    for field in fields {
                        self.add_field(field);
                    }
                    break;
                }
                DataType::List(item) | DataType::LargeList(item) => data_type = item.data_type(),
                _ => break,
            }
        }
    }

    fn add_column(&mut self, name: &str) {
        self.exact.insert(name.to_string());
        self.by_lower
            .entry(name.to_lowercase())
            .and_modify(|known| {
                if known.as_deref() != Some(name) {
                    *known = None;
                }
            })
            .or_insert_with(|| Some(name.to_string()));
    }

    /// Adds a name defined in the query itself (an alias, a CTE, a lambda parameter), in the
    /// form DataFusion gives it: these are never rewritten to a column.
    pub fn add_alias(&mut self, name: &str) {
        self.exact.insert(name.to_string());
    }

    /// Adds the aliases `statement` defines (select aliases, table and CTE aliases, lambda
    /// parameters).
    pub fn add_aliases_of<V: Visit>(&mut self, statement: &V) {
        let _ = statement.visit(&mut Aliases(self));
    }

    /// Rewrites the identifiers in `node` that name no column exactly but one column when case
    /// is ignored; whether any was rewritten.
    pub fn rewrite<V: datafusion::sql::sqlparser::ast::VisitMut>(&self, node: &mut V) -> bool {
        let mut rewriter = Rewriter {
            names: self,
            changed: false,
        };
        let _ = node.visit(&mut rewriter);
        rewriter.changed
    }

    /// The column `ident` should name, when it is not the name DataFusion would look for.
    fn resolve(&self, ident: &Ident) -> Option<String> {
        let seen = normalized(ident);
        if self.exact.contains(&seen) {
            return None;
        }
        self.by_lower
            .get(&ident.value.to_lowercase())
            .cloned()
            .flatten()
    }
}

/// How DataFusion reads an identifier: unquoted ones lowercased.
fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The tables and views `statement` reads by name.
pub fn relations<V: Visit>(statement: &V) -> Vec<ObjectName> {
    let mut names = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_relations(statement, |name| {
        if !names.contains(name) {
            names.push(name.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

/// The table `name` refers to, its parts read as DataFusion reads them.
pub fn table_reference(name: &ObjectName) -> Option<TableReference> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| part.as_ident().map(normalized))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [table] => Some(TableReference::bare(table.as_str())),
        [schema, table] => Some(TableReference::partial(schema.as_str(), table.as_str())),
        [catalog, schema, table] => Some(TableReference::full(
            catalog.as_str(),
            schema.as_str(),
            table.as_str(),
        )),
        _ => None,
    }
}

/// Whether planning failed on a column it could not find.
pub fn is_unknown_column(error: &DataFusionError) -> bool {
    matches!(error.find_root(), DataFusionError::SchemaError(schema_error, _)
        if matches!(**schema_error, SchemaError::FieldNotFound { .. }))
}

struct Aliases<'a>(&'a mut ColumnNames);

impl Visitor for Aliases<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for Cte { alias, .. } in &with.cte_tables {
                self.0.add_alias(&normalized(&alias.name));
                for column in &alias.columns {
                    self.0.add_alias(&normalized(&column.name));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                self.0.add_alias(&normalized(alias));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let alias = match factor {
            TableFactor::Table { name, alias, .. } => {
                if let Some(last) = name.0.last().and_then(|part| part.as_ident()) {
                    self.0.add_alias(&normalized(last));
                }
                alias
            }
            TableFactor::Derived { alias, .. }
            | TableFactor::UNNEST { alias, .. }
            | TableFactor::Function { alias, .. } => alias,
            _ => &None,
        };
        if let Some(alias) = alias {
            self.0.add_alias(&normalized(&alias.name));
            for column in &alias.columns {
                self.0.add_alias(&normalized(&column.name));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Lambda(lambda) = expr {
            for param in lambda.params.iter() {
                self.0.add_alias(&normalized(&param.name));
            }
        }
        ControlFlow::Continue(())
    }
}

struct Rewriter<'a> {
    names: &'a ColumnNames,
    changed: bool,
}

impl Rewriter<'_> {
    fn fix(&mut self, ident: &mut Ident) {
        if let Some(column) = self.names.resolve(ident) {
            *ident = Ident::with_quote('`', column);
            self.changed = true;
        }
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.fix(ident),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(|part| self.fix(part)),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;

    fn rewritten(sql: &str, columns: &[&str]) -> String {
        let mut statement = crate::parser::parse_statements(sql)
            .expect("parses")
            .pop()
            .expect("one statement");
        let schema = Schema::new(
            columns
                .iter()
                .map(|name| Field::new(*name, DataType::Int32, true))
                .collect::<Vec<_>>(),
        );
        let mut names = ColumnNames::of_schema(&DFSchema::try_from(schema).expect("schema"));
        names.add_aliases_of(&statement);
        names.rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn identifiers_find_columns_whatever_their_case() {
        assert_eq!(
            rewritten("SELECT name, `NAME`, p.Name FROM p", &["Name"]),
            "SELECT `Name`, `Name`, p.`Name` FROM p"
        );
        // Exact names, aliases and lambda parameters stay; names differing only by case are
        // ambiguous and left for DataFusion to report.
        assert_eq!(
            rewritten(
                "SELECT a AS x, transform(v, x -> x + 1) FROM p ORDER BY x",
                &["a", "X", "v"]
            ),
            "SELECT a AS x, transform(v, x -> x + 1) FROM p ORDER BY x"
        );
        assert_eq!(
            rewritten("SELECT id FROM p", &["Id", "ID"]),
            "SELECT id FROM p"
        );
    }
}
